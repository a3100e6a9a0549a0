let s = { a = 1; b = { c = 2; }; }; in
[ (s.a or 0) (s.x or 0) (s.b.c or 0) (s.b.x or "dflt") (s.x.y.z or "deep") ]
