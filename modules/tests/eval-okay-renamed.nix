import ./common.nix [
  ({ lib, ... }: { options.newName = lib.mkOption { type = lib.types.str; }; imports = [ (lib.mkRenamedOptionModule [ "oldName" ] [ "newName" ]) ]; })
  { oldName = "moved"; }
]
