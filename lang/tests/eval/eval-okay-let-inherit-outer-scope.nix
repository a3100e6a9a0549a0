# `inherit x;` in a let takes x from the ENCLOSING scope, not the let itself
# (so it is not an infinite recursion).
let x = 1; in let inherit x; y = x + 1; in [ x y ]
