[ (builtins.mul 3 (-4)) (builtins.mul 0.5 4) (builtins.mul 4611686018427387904 2) (builtins.div 1 2.0) (builtins.sub 0.5 1) (builtins.add (-1) 1.0) ]
