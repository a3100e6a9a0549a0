# An unused default that would throw is never evaluated.
let f = { a ? throw "boom", b }: b; in f { b = "ok"; }
