# An import is read, parsed and checked only when its value is used: a missing file, a syntax
# error and an undefined variable in an imported file stay silent while nobody asks.
let
  s = {
    missing = import ./lib/no-such-file.nix;
    broken = import ./lib/syntax-error.nix;
    scoped = builtins.scopedImport { } ./lib/no-such-file.nix;
    ok = import ./lib/simple.nix;
  };
in
[ (builtins.attrNames s) (s ? missing) (builtins.typeOf s.ok) (builtins.length [ s.missing s.broken ]) ]
