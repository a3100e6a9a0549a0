[ (builtins.deepSeq { a = { b = [ 1 2 ]; }; } "ok") (builtins.tryEval (builtins.deepSeq { a = { b = [ (throw "deep") ]; }; } "ok")) ]
