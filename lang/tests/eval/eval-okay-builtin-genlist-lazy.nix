# Elements of genList are computed lazily.
builtins.elemAt (builtins.genList (i: if i == 3 then "three" else throw "elem ${toString i}") 10) 3
