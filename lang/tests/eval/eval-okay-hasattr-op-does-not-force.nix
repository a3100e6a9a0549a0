# `s ? a` looks the name up and never forces the value it finds, so a set may test itself
# (`fix (self: { a = self ? a; })`); only the sets on the way of a path are forced.
let
  x = { a = x ? a; };
  y = { a = { b = y ? a.b; }; };
  z = rec { a = b; b = z ? a; };
  fix = f: let r = f r; in r;
  w = fix (self: { a = if self ? a then "has a" else "no a"; b = self ? c; });
  thrown = { a = throw "never forced"; };
in
[ x.a y.a.b z.a w.a w.b (thrown ? a) ((builtins.mapAttrs (n: v: throw n) { q = 1; }) ? q) ]
