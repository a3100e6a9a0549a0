# corpus: json
[ (builtins.catAttrs "a" [ { a = 1; } { b = 2; } { a = 3; } ]) (builtins.catAttrs "x" [ ]) (builtins.catAttrs "a" [ { } ]) ]
