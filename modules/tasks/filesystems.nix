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
  options.swapDevices = mkOption {
    type = types.listOf (types.submodule ({ config, ... }: {
      options.device = mkOption {
        type = types.absolutePath;
        example = "/var/swapfile";
        description = "The swap device or file; with a `label', /dev/disk/by-label/<label> by default.";
      };
      config.device = lib.mkIf (config.label != null) (lib.mkDefault "/dev/disk/by-label/${config.label}");
      options.size = mkOption {
        type = types.nullOr types.ints.positive;
        default = null;
        description = "Size in MiB of a swap file to create at `device' when it does not exist (zero-filled, mode 0600, with a swap header); null: the device or file must exist.";
      };
      options.priority = mkOption {
        type = types.nullOr (types.ints.between 0 32767);
        default = null;
        description = "The swap priority (higher is used first); null: the kernel's default.";
      };
      options.label = mkOption {
        type = types.nullOr (types.str // {
          name = "swapLabel";
          description = "swap label (at most 16 letters, digits and `._-')";
          check = x: builtins.isString x && builtins.stringLength x <= 16 && builtins.match "[A-Za-z0-9._-]+" x != null;
        });
        default = null;
        description = "The swap device's label: `device' defaults to /dev/disk/by-label/<label>, and a swap file strata creates carries it.";
      };
    }));
    default = [ ];
    example = [ { device = "/var/swapfile"; size = 1024; } ];
    description = "Swap devices and files, enabled at boot once the file systems are mounted; a switch enables those it adds (one it removes stays in use until the next boot).";
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
