# In a rec set, plain `inherit x` takes x from the enclosing scope,
# not from the set itself (otherwise it would be infinite recursion).
let x = "outer"; in
rec { inherit x; y = x; }
