[ (builtins.tryEval (builtins.tryEval (throw "x"))) (builtins.tryEval (builtins.deepSeq [ 1 (throw "deep") ] 1)) ]
