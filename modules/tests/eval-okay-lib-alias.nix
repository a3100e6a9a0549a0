# mkAliasOptionModule moves definitions silently; mkRenamedOptionModule warns.
import ./common.nix [
  ({ lib, ... }: {
    options.warnings = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
    options.target = lib.mkOption { type = lib.types.str; };
    options.other = lib.mkOption { type = lib.types.int; };
    imports = [
      (lib.mkAliasOptionModule [ "alias" ] [ "target" ])
      (lib.mkRenamedOptionModule [ "old" ] [ "other" ])
    ];
  })
  { alias = "through the alias"; old = 3; }
]
