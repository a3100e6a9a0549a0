# `f -1` is subtraction, not application.
let f = 10; g = x: x; in [ (f -1) (g (-1)) (f - 1) ]
