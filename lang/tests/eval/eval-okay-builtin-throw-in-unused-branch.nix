let check = x: if x > 0 then x else throw "negative: ${toString x}"; in
[ (check 1) (builtins.tryEval (check (-1))) ]
