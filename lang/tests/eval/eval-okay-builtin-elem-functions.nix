# elem compares elements with the equality of Nix 2.8, which first checks
# whether both sides are the very same value: so the same function value IS
# found by elem, although `f == f` is false (operands are copied there).
let f = x: x; in [ (builtins.elem f [ f ]) (f == f) (builtins.elem (x: x) [ (x: x) ]) (builtins.elem null [ null ]) (builtins.elem "" [ ]) ]
