# scopedImport (undocumented) evaluates a file with extra variables in scope.
builtins.scopedImport { magic = 41; } ./lib/scoped.nix
