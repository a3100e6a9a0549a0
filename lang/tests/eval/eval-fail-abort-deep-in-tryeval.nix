builtins.tryEval (builtins.deepSeq [ 1 (abort "deep abort") ] true)
