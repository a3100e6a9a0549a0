import ./common.nix [
  ({ lib, ... }: { options.p = lib.mkOption { type = lib.types.port; apply = x: x + 1; }; options.r = lib.mkOption { type = lib.types.str; readOnly = true; default = "fixed"; }; })
  { p = 8079; }
]
