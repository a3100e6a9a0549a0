# Errors in values nobody asks for are never raised: sets, lists, builtins that return them
# and function arguments keep them unforced.
let
  s = { a = throw "a"; b = 1; c = "text"; bad = 1 + "x"; };
  l = [ 1 (throw "l") (1 + "x") ];
  f = { a, b ? throw "default", ... }: a;
in
[
  s.b
  (s.c or "none")
  (builtins.length l)
  (builtins.head l)
  (builtins.length (builtins.attrValues s))
  (builtins.attrNames (builtins.mapAttrs (n: v: v + 1) s))
  ((builtins.mapAttrs (n: v: v + 1) s).b)
  ((builtins.removeAttrs s [ "a" ]).b)
  ((builtins.intersectAttrs { b = throw "x"; } s).b)
  ((builtins.listToAttrs [ { name = "x"; value = throw "v"; } { name = "y"; value = 2; } ]).y)
  ((builtins.zipAttrsWith (n: vs: throw n) [ s ]) ? a)
  (f { a = 1; c = throw "c"; })
  (builtins.length (builtins.genList (i: throw "g") 2))
  (builtins.length (builtins.map (x: throw "m") l))
  ((s // { d = throw "d"; }).b)
  (let inherit (s) a b; in b)
  (with s; b)
  (builtins.elemAt l 0)
  ((builtins.partition (x: x > 0) [ 1 ]).right)
  (builtins.catAttrs "b" [ s { b = 2; } ])
]
