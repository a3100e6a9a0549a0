[ (builtins.seq "forced" "result") (builtins.deepSeq [ 1 [ 2 ] { a = 3; } ] "deep result") (builtins.tryEval (builtins.seq (throw "x") 1)) (builtins.seq (x: throw "body") "fun not applied") ]
