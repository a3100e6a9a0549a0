import ./common.nix [
  ({ lib, ... }: { options.time.timeZone = lib.mkOption { type = lib.types.str; }; })
  { _file = "a.nix"; time.timeZone = "UTC"; }
  { _file = "b.nix"; time.timeZone = "America/Phoenix"; }
]
