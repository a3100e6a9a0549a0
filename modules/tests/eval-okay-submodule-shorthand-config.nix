import ./common.nix [
  ({ lib, ... }: {
    options.fileSystems = lib.mkOption {
      type = lib.types.attrsOf (lib.types.submodule {
        options.device = lib.mkOption { type = lib.types.str; };
        options.options = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ "defaults" ]; };
      });
      default = { };
    };
    options.modules = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
    config.modules = [ "virtio_blk" ];
  })
  # A set defined for a submodule is its config, even with an attribute named `options`.
  { fileSystems."/".device = "/dev/vda1"; fileSystems."/".options = [ "noatime" ]; fileSystems."/boot".device = "/dev/vda2"; }
  # An override on the whole option replaces every definition of lower priority.
  ({ lib, ... }: { fileSystems = lib.mkImageMediaOverride { "/" = { device = "/dev/sr0"; options = [ "ro" ]; }; }; modules = [ "isofs" ]; })
]
