map (p: builtins.div (builtins.elemAt p 0) (builtins.elemAt p 1))
  [ [ 7 3 ] [ (-7) 3 ] [ 7 (-3) ] [ (-7) (-3) ] [ 1 2 ] [ (-1) 2 ] [ 0 5 ] ]
