# An error inside a nested call: the message only (no --show-trace).
let f = x: x.missing; in builtins.length (map f [ { } ]) + (f { })
