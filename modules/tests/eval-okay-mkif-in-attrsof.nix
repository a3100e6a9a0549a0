import ./common.nix [
  ({ lib, ... }: { options.m = lib.mkOption { type = lib.types.attrsOf lib.types.int; default = { }; }; })
  ({ lib, ... }: { m.a = 1; m.b = lib.mkIf false 2; m.c = lib.mkIf true 3; })
]
