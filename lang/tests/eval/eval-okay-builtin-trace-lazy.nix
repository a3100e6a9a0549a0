# The traced value is returned unevaluated-as-needed.
let x = builtins.trace "tracing" { a = 1; b = throw "unused"; }; in x.a
