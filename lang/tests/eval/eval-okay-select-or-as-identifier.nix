# `or` is a keyword only after a selection; it can still be used as a variable
# in some positions (Nix 2.8 parses `f or` as an application to `or`).
let or = "or-value"; f = x: x; in f or
