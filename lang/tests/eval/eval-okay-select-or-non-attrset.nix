# `or` also applies when an intermediate value is not an attribute set.
let s = { a = 1; }; in s.a.b or "fallback"
