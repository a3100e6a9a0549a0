builtins.deepSeq { a = [ { b = throw "forced by deepSeq"; } ]; } 1
