# `elem` forces the needle and each element before it compares them, even the very same value.
let t = throw "needle forced by elem"; in builtins.elem t [ t ]
