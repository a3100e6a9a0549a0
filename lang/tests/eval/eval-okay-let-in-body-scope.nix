# the body of a let sees the bindings, the bindings see each other.
let a = 5; in let b = a * a; in let a = b; in a + 1
