let
  mkCounter = start: step: n: start + step * n;
  from10 = mkCounter 10;
  by5 = from10 5;
in
map by5 [ 0 1 2 ]
