# Nested attribute paths are allowed in let bindings too.
let
  a.b = 1;
  a.c = 2;
  d.e.f = a.b + a.c;
in
{ inherit a d; }
