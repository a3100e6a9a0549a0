[ (builtins.floor 1.0e15) (builtins.ceil (-1.0e15)) (builtins.floor (-0.0)) (builtins.ceil 0.0000001) ]
