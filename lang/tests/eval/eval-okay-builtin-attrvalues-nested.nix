# corpus: json
let s = { z = [ 1 ]; a = { inner = true; }; m = "m"; }; in [ (builtins.attrValues s) (map builtins.attrValues (builtins.attrValues { x = { b = 2; a = 1; }; })) ]
