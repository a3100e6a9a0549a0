import ./common.nix [
  ({ lib, ... }: { options.n = lib.mkOption { type = lib.types.nullOr lib.types.int; }; })
  { _file = "a.nix"; n = null; }
  { _file = "b.nix"; n = 1; }
]
