import ./common.nix [
  ({ lib, ... }: { options.x = lib.mkOption { type = lib.types.int; default = 0; }; })
  ({ lib, ... }: { _file = "c.nix"; x = lib.mkIf "yes" 1; })
]
