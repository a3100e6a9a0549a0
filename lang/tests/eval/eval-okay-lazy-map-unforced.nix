# map is lazy in the elements: only the used element is computed.
builtins.elemAt (map (x: if x == 2 then "two" else throw "forced ${toString x}") [ 1 2 3 ]) 1
