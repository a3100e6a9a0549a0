# mapAttrs is lazy in the values.
(builtins.mapAttrs (n: v: if n == "ok" then v else throw "forced ${n}") { ok = "fine"; bad = 1; }).ok
