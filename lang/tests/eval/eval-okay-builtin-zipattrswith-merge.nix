builtins.zipAttrsWith (n: vs: builtins.foldl' (a: b: a + b) 0 vs) [ { x = 1; y = 10; } { x = 2; } { x = 3; y = 20; } ]
