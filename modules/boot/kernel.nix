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
    kernelModules = mkOption {
      type = types.listOf types.kernelModule;
      default = [ ];
      example = [ "loop" "dummy" ];
      description = "Kernel modules loaded in stage 2, once the file systems are mounted, with the modules they depend on (a name built into the kernel needs nothing). A switch loads the modules it adds; those it removes stay loaded until the next boot.";
    };
    # strata's own: NixOS builds its kernels itself and has no such option.
    kernelModuleFilter = mkOption {
      type = types.listOf (types.relativePath // {
        name = "moduleDirectory";
        description = "directory below kernel/ (a relative path without whitespace, empty, `.' or `..' components)";
        check = x: types.relativePath.check x && types.word.check x;
      });
      default = [ ];
      example = [ "sound" "drivers/gpu" "drivers/media" ];
      description = "strata's own option (NixOS has none): directories below the kernel package's `lib/modules/<version>/kernel/' whose modules the system leaves out, to make it smaller; so are the modules that need one of them. A module left out that boot.kernelModules or the initrd's lists name is an error at build time naming the module and the directory.";
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
