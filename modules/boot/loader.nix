{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.boot.loader;
  espMountPoint =
    if config.fileSystems ? "/boot" then "/boot"
    else if config.fileSystems ? "/boot/efi" then "/boot/efi"
    else "/boot";
in
{
  options.boot.loader = {
    timeout = mkOption {
      type = types.nullOr types.ints.unsigned;
      default = 5;
      description = "Seconds the boot menu waits before it boots the default; null waits for the user.";
    };
    efi.canTouchEfiVariables = lib.mkUnsupportedOption {
      type = types.bool;
      default = false;
      description = "Whether installing the boot loader may change the firmware's boot entries.";
      reason = "strata never changes the firmware's boot entries: UEFI machines boot it through the fallback path EFI/BOOT/BOOTX64.EFI of the EFI system partition.";
    };
    efi.efiSysMountPoint = lib.mkUnsupportedOption {
      type = types.str;
      default = "/boot";
      # strata finds the EFI system partition itself: the file system at /boot, else the one
      # at /boot/efi. Naming that one is what strata does anyway.
      quietWhen = v: v == espMountPoint;
      description = "Where the EFI system partition is mounted.";
      reason = "strata puts the boot loader's files on the file system mounted at /boot, or at /boot/efi when /boot is not one.";
    };
    grub = {
      enable = mkOption { type = types.bool; default = false; description = "Whether to boot with GRUB."; };
      device = mkOption { type = types.str; default = ""; example = "/dev/vda"; description = "The disk GRUB's BIOS boot code goes to; `nodev' for EFI only."; };
      devices = mkOption { type = types.listOf types.str; default = [ ]; description = "Disks GRUB's BIOS boot code goes to (with `device')."; };
      efiSupport = mkOption { type = types.bool; default = false; description = "Whether to install GRUB for UEFI as well."; };
      configurationLimit = mkOption { type = types.ints.positive; default = 100; description = "The most generations the menu lists."; };
      efiInstallAsRemovable = lib.mkUnsupportedOption {
        type = types.bool;
        default = false;
        # What strata always does.
        quietWhen = v: v;
        description = "Whether GRUB for UEFI goes to the firmware's fallback path (EFI/BOOT/BOOTX64.EFI) rather than into the firmware's boot entries.";
        reason = "strata always installs GRUB for UEFI at the fallback path EFI/BOOT/BOOTX64.EFI and never changes the firmware's boot entries.";
      };
      useOSProber = lib.mkUnsupportedOption {
        type = types.bool;
        default = false;
        description = "Whether GRUB's menu lists the other operating systems found on the disks.";
        reason = "strata's GRUB menu lists strata's generations only.";
      };
      extraEntries = lib.mkUnsupportedOption {
        type = types.lines;
        default = "";
        yet = true;
        description = "Text appended to grub.cfg.";
        reason = "strata writes GRUB's menu itself and adds nothing to it.";
      };
    };
    systemd-boot = {
      enable = mkOption { type = types.bool; default = false; description = "Whether to boot with systemd-boot (UEFI only)."; };
      configurationLimit = mkOption { type = types.nullOr types.ints.positive; default = null; description = "The most generations the menu lists; null lists all."; };
      consoleMode = mkOption {
        type = types.enum [ "0" "1" "2" "auto" "max" "keep" ];
        default = "keep";
        description = "The console mode systemd-boot sets (loader.conf's `console-mode').";
      };
    };
  };
  config.assertions = [
    {
      assertion = !(cfg.grub.enable && cfg.systemd-boot.enable);
      message = "Both boot.loader.grub.enable and boot.loader.systemd-boot.enable are set; a machine boots with one boot loader.";
    }
    {
      assertion = cfg.grub.enable || cfg.systemd-boot.enable;
      message = "No boot loader is enabled; set boot.loader.grub.enable or boot.loader.systemd-boot.enable.";
    }
    {
      assertion = !cfg.grub.enable || cfg.grub.device != "" || cfg.grub.devices != [ ] || cfg.grub.efiSupport;
      message = "GRUB is enabled but has nowhere to go: set boot.loader.grub.device (e.g. \"/dev/vda\", or \"nodev\" with efiSupport).";
    }
  ];
}
