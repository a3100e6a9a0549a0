let
  mk = name: deps: derivation { inherit name; system = "x86_64-linux"; builder = "/bin/sh"; deps = map toString deps; };
  a = mk "a" [ ];
  b = mk "b" [ a ];
  c = mk "c" [ a b ];
in
map (d: [ d.name d.drvPath d.outPath ]) [ a b c ]
