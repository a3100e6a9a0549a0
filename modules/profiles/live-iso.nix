# The live variant of a configuration, which `strata image --format iso` builds: the same
# machine (host name, users, packages, services, /etc) booted from a CD or a USB stick.
#
# The medium is an ISO 9660 file system labelled `isoImage.volumeID` (system/iso-image.nix). It holds the kernel, the
# initrd, GRUB for UEFI and BIOS, and the machine's root tree (its store with the database,
# the profile, /etc/strata) as the squashfs image the kernel parameter `strata.live=` names.
# Stage 1 mounts that image under a tmpfs with an overlay, so the live system is writable; the
# writes live in memory and are gone at the next boot.
#
# The configuration's own file systems and boot loader describe a disk install and are
# replaced: the root is the medium, nothing else is mounted, and GRUB boots it.
{ config, lib, ... }:
let
  inherit (lib) mkImageMediaOverride;
in
{
  config = {
    fileSystems = mkImageMediaOverride {
      "/" = {
        device = "/dev/disk/by-label/${config.isoImage.volumeID}";
        fsType = "iso9660";
        options = [ "ro" ];
      };
    };
    swapDevices = mkImageMediaOverride [ ];
    boot.loader.grub.enable = mkImageMediaOverride true;
    boot.loader.grub.device = mkImageMediaOverride "nodev";
    boot.loader.grub.devices = mkImageMediaOverride [ ];
    boot.loader.grub.efiSupport = mkImageMediaOverride true;
    boot.loader.systemd-boot.enable = mkImageMediaOverride false;
    # The image's path on the medium; `strata image` writes it there.
    boot.kernelParams = [ "strata.live=/strata/root.squashfs" ];
    # The medium on a CD drive (IDE, SATA, SCSI, virtio) or a USB stick, and the live root.
    boot.initrd.availableKernelModules = [
      "ata_piix" "sr_mod" "cdrom"
      "usb_storage" "uas" "xhci_pci" "ehci_pci" "ohci_pci" "uhci_hcd"
      "loop" "squashfs" "overlay"
    ];
  };
}
