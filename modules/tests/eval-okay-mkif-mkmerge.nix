import ./common.nix [
  ({ lib, config, ... }: {
    options.enable = lib.mkOption { type = lib.types.bool; default = false; };
    options.flag = lib.mkOption { type = lib.types.bool; default = true; };
    options.items = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
    config = lib.mkMerge [
      (lib.mkIf config.flag { items = [ "flag" ]; })
      (lib.mkIf config.enable { items = [ "enabled" ]; })
      { items = [ "always" ]; }
    ];
  })
]
