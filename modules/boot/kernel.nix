{ lib, ... }:
let inherit (lib) mkOption types; in
{
  options.boot = {
    kernel = mkOption {
      type = types.str;
      default = "linux-image-amd64";
      description = "The Debian package the kernel and its modules come from.";
    };
    kernelParams = mkOption {
      type = types.listOf types.kernelParam;
      default = [ ];
      example = [ "quiet" ];
      description = "Parameters on the kernel command line, added to the default consoles (`console=tty0 console=ttyS0,115200'); `lib.mkForce [ ... ]' replaces those too.";
    };
    kernelModules = lib.mkUnsupportedOption {
      type = types.listOf types.kernelModule;
      default = [ ];
      yet = true;
      description = "Kernel modules loaded in stage 2.";
      reason = "strata loads no modules by name after the initrd; list them in boot.initrd.kernelModules to have them loaded at boot.";
    };
    extraModulePackages = lib.mkUnsupportedOption {
      type = types.listOf types.package;
      default = [ ];
      description = "Packages of further kernel modules (built for boot.kernelPackages in NixOS).";
      reason = "strata takes the kernel's modules from the package boot.kernel names, and from nowhere else.";
    };
    initrd.availableKernelModules = mkOption {
      type = types.listOf types.kernelModule;
      default = [ ];
      description = "Kernel modules the initrd carries, loaded when hardware needs them; added to the disk controllers of virtual machines and PCs, which it always carries.";
    };
    initrd.kernelModules = mkOption { type = types.listOf types.kernelModule; default = [ ]; description = "Kernel modules the initrd always loads."; };
  };
  # Definitions, not the options' defaults, so that what a configuration or a profile defines
  # adds to them: an option's default is dropped by the first definition anywhere.
  config.boot.initrd.availableKernelModules = [ "virtio_pci" "virtio_blk" "virtio_scsi" "ahci" "sd_mod" "ext4" ];
  # Virtual machines: the console on the screen and on the first serial port (the last one
  # named is /dev/console), so `qemu -nographic` shows the boot and a login prompt.
  config.boot.kernelParams = [ "console=tty0" "console=ttyS0,115200" ];
}
