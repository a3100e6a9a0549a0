# corpus: json
[ (builtins.genList (x: x * 2) 5) (builtins.genList (x: x) 0) (builtins.genList toString 3) ]
