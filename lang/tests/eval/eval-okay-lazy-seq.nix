[ (builtins.seq 1 2) (builtins.seq { a = throw "inner not forced"; } "ok") (builtins.seq [ (throw "elements not forced") ] "ok") ]
