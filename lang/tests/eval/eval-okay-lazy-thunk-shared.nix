# A let-bound thunk is evaluated once and shared: the value printed twice
# is one value, so nix-instantiate prints it only once and «repeated» after.
let expensive = builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) 1000); s = { v = expensive; }; in
[ s s expensive ]
