# A fixpoint built by hand: the set receives itself as argument.
let
  fix = f: let x = f x; in x;
  attrs = fix (self: { a = 1; b = self.a + 1; c = self.b + self.a; });
in
attrs
