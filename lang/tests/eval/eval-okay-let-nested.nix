let
  outer = 1;
in
let
  inner = outer + 1;
  outer2 = let outer = 100; in outer + inner;
in
{ inherit outer inner outer2; }
