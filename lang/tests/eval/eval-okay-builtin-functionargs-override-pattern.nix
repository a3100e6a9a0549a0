# callPackage-style: pass only the arguments a function asks for.
let
  callWith = scope: f: f (builtins.intersectAttrs (builtins.functionArgs f) scope);
  scope = { a = 1; b = 2; c = 3; };
in
callWith scope ({ a, c, d ? "default" }: [ a c d ])
