let
  a = 1;
  f = let a = 2; in a * 10;
in
[ a f (let a = 3; in a) ]
