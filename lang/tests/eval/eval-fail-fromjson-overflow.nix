builtins.fromJSON "[1, 1e400]"
