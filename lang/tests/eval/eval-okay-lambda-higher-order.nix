let
  compose = f: g: x: f (g x);
  twice = f: compose f f;
  inc = x: x + 1;
in
[ (twice inc 0) (twice (twice inc) 0) (compose toString inc 41) ]
