[ (builtins.foldl' (a: b: a + b) 0 [ 1 2 3 4 ]) (builtins.foldl' (a: b: a - b) 100 [ 1 2 3 ]) (builtins.foldl' (a: b: a) "init" [ ]) ]
