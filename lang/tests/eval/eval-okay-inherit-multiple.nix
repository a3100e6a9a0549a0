let
  p = { a = 1; };
  q = { b = 2; };
  c = 3;
in
{ inherit (p) a; inherit (q) b; inherit c; }
