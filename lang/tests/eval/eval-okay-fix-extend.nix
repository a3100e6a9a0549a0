# lib-style overlays: extend a fixpoint with a function of (final, prev).
let
  fix = f: let x = f x; in x;
  extends = overlay: f: final: let prev = f final; in prev // overlay final prev;
  base = final: { a = 1; b = final.a + 10; };
  ov = final: prev: { a = prev.a + 100; c = final.b; };
in
fix (extends ov base)
