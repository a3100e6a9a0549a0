# builtins.hasAttr and `?` agree; hasAttr takes a single name, not a path.
let s = { a = { b = 1; }; "a.b" = 2; }; in
[ (builtins.hasAttr "a" s == s ? a) (builtins.hasAttr "a.b" s) (s ? a.b) (s ? "a.b") (builtins.hasAttr "b" s.a) ]
