# corpus: json
let s = { a = 1; b = { c = 2; }; "d e" = 3; }; in
[ (s ? a) (s ? x) (s ? b.c) (s ? b.x) (s ? a.b) (s ? "d e") (s ? ${"a"}) ]
