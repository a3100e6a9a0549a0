import ./common.nix [
  ({ lib, ... }: { options.users.users = lib.mkOption { type = lib.types.attrsOf (lib.types.submodule { options.uid = lib.mkOption { type = lib.types.ints.unsigned; }; }); }; })
  { _file = "configuration.nix"; users.users.alice.uid = "x"; }
]
