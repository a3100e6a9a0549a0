let
  src = { x = 1; y = 2; z = 3; };
  inherit (src) x y;
  z = 30;
in
[ x y z src.z ]
