import ./common.nix [
  ({ lib, ... }: {
    options.users = lib.mkOption {
      type = lib.types.attrsOf (lib.types.submodule ({ name, config, ... }: {
        options.name = lib.mkOption { type = lib.types.str; default = name; };
        options.home = lib.mkOption { type = lib.types.str; default = "/home/${config.name}"; };
        options.groups = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
      }));
      default = { };
    };
  })
  { users.alice.groups = [ "wheel" ]; }
  { users.alice.groups = [ "audio" ]; users.bob.name = "robert"; }
]
