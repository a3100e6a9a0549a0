[ (builtins.seq null "b") (builtins.seq [ ] 1) (builtins.deepSeq null 2) (builtins.seq (x: x) 3) ]
