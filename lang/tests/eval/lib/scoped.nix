# Used with builtins.scopedImport: `magic` comes from the injected scope.
{ result = magic + 1; viaBuiltins = builtins.length [ 1 2 ]; }
