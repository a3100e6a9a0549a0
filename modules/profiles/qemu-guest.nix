# Imported by the hardware-configuration.nix that `nixos-generate-config` writes in a QEMU
# (or KVM) virtual machine: the drivers of QEMU's paravirtual devices.
{ ... }:
{
  # Disks, network and the 9p shared folders, on the PCI bus or as memory-mapped devices.
  boot.initrd.availableKernelModules = [ "virtio_net" "virtio_pci" "virtio_mmio" "virtio_blk" "virtio_scsi" "9p" "9pnet_virtio" ];
  # The balloon (memory given back to the host), the virtio console and the host's entropy.
  boot.initrd.kernelModules = [ "virtio_balloon" "virtio_console" "virtio_rng" ];
  # No sound, graphics, cameras and TV, wireless or InfiniBand hardware in a virtual machine
  # (QEMU's screen is a plain frame buffer): strata leaves those modules out of the system,
  # about 150 MiB of Debian's 390.
  boot.kernelModuleFilter = [
    "sound"
    "drivers/gpu"
    "drivers/media"
    "drivers/net/wireless"
    "net/wireless"
    "net/mac80211"
    "drivers/bluetooth"
    "net/bluetooth"
    "drivers/infiniband"
    "drivers/isdn"
    "drivers/staging"
  ];
}
