# Some builtins are also available without the builtins. prefix.
[ (toString 1) (baseNameOf "a/b") (dirOf "a/b") (map (x: x) [ 1 ]) (isNull null) (removeAttrs { a = 1; } [ "a" ]) (import ./lib/simple.nix).value (builtins.isFunction derivation) (builtins.isFunction placeholder) (builtins.isFunction abort) (builtins.isFunction throw) (builtins.isFunction fetchTarball) ]
