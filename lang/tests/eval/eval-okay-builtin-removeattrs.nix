# corpus: json
[ (builtins.removeAttrs { a = 1; b = 2; c = 3; } [ "a" "c" ]) (builtins.removeAttrs { a = 1; } [ "missing" ]) (builtins.removeAttrs { a = 1; } [ ]) (builtins.removeAttrs { } [ "a" ]) ]
