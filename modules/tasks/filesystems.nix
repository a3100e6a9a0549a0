{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  fsOpts = { name, ... }: {
    options = {
      mountPoint = mkOption { type = types.absolutePath; default = name; description = "Where it is mounted; the attribute name by default."; };
      device = mkOption { type = types.nullOr types.str; default = null; example = "/dev/disk/by-label/strata"; description = "What is mounted."; };
      fsType = mkOption { type = types.str; default = "auto"; example = "ext4"; description = "The file system type."; };
      options = mkOption { type = types.listOf types.str; default = [ "defaults" ]; description = "Mount options."; };
      neededForBoot = mkOption { type = types.bool; default = false; description = "Whether the initrd mounts it (the root always is)."; };
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
  options.swapDevices = mkOption {
    type = types.listOf (types.submodule {
      options.device = mkOption { type = types.str; description = "The swap device or file."; };
      options.size = mkOption { type = types.nullOr types.ints.positive; default = null; description = "Size in MiB of a swap file to create."; };
    });
    default = [ ];
    description = "Swap devices and files.";
  };
  config.assertions = [
    {
      assertion = config.fileSystems ? "/";
      message = "No root file system is configured: set fileSystems.\"/\".";
    }
  ];
}
