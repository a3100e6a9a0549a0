# let bindings are recursive: later bindings can be used by earlier ones.
let
  x = y + 1;
  y = z * 2;
  z = 10;
in
[ x y z ]
