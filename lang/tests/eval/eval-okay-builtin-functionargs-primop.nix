[ (builtins.functionArgs builtins.map) (builtins.functionArgs (builtins.add 1)) ]
