# Without rec, attribute names are not in scope inside the set.
let
  a = "outer";
  plain = { a = "inner"; b = a; };
  recursive = rec { a = "inner"; b = a; };
in
[ plain.b recursive.b ]
