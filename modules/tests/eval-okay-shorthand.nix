import ./common.nix [
  ({ lib, ... }: { options.a.b = lib.mkOption { type = lib.types.str; }; options.n = lib.mkOption { type = lib.types.nullOr lib.types.int; default = null; }; })
  { a.b = "shorthand"; }
]
