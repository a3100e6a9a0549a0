{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  fsOpts = { name, ... }: {
    options = {
      mountPoint = mkOption { type = types.absolutePath; default = name; description = "Where it is mounted; the attribute name by default."; };
      device = mkOption { type = types.nullOr types.word; default = null; example = "/dev/disk/by-label/strata"; description = "What is mounted."; };
      fsType = mkOption { type = types.fsTypeName; default = "auto"; example = "ext4"; description = "The file system type."; };
      options = mkOption { type = types.listOf types.word; default = [ "defaults" ]; description = "Mount options."; };
      neededForBoot = lib.mkUnsupportedOption {
        type = types.bool;
        default = false;
        yet = true;
        description = "Whether the initrd mounts it (the root always is).";
        reason = "strata's initrd mounts only the root file system; the others are mounted after it.";
      };
    };
  };
in
{
  options.fileSystems = mkOption {
    type = types.attrsNamedOf types.absolutePath (types.submodule fsOpts);
    default = { };
    example = { "/" = { device = "/dev/disk/by-label/strata"; fsType = "ext4"; }; };
    description = "The file systems, by mount point.";
  };
  options.swapDevices = lib.mkUnsupportedOption {
    yet = true;
    reason = "strata does not enable swap devices or make swap files.";
    type = types.listOf (types.submodule {
      options.device = mkOption { type = types.absolutePath; description = "The swap device or file."; };
      options.size = mkOption { type = types.nullOr types.ints.positive; default = null; description = "Size in MiB of a swap file to create."; };
    });
    default = [ ];
    description = "Swap devices and files.";
  };
  # util-linux's mount and umount, setuid root (for `user' mounts), where the system has them.
  config.security.wrappers = lib.genAttrs [ "mount" "umount" ] (p: lib.mapAttrs (n: lib.mkDefault) {
    source = "/usr/bin/${p}";
    owner = "root";
    group = "root";
    setuid = true;
    onlyIfPresent = true;
  });
  config.assertions = [
    {
      assertion = config.fileSystems ? "/";
      message = "No root file system is configured: set fileSystems.\"/\".";
    }
  ];
}
