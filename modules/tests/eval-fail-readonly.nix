import ./common.nix [
  ({ lib, ... }: { options.r = lib.mkOption { type = lib.types.int; readOnly = true; }; })
  { _file = "a.nix"; r = 1; }
  { _file = "b.nix"; r = 1; }
]
