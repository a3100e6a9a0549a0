# The sets on a `?` path are forced in turn; a value that is not a set there means `false`.
let s = { a = 1; b = { c = throw "not reached"; }; }; in
[ (s ? a.b) (s ? b.c) (s ? b.d) (s ? z.y) (1 ? a) ]
