# String equality ignores context.
let d = derivation { name = "eq"; system = "x86_64-linux"; builder = "/bin/sh"; }; in
[ ("${d}" == builtins.unsafeDiscardStringContext "${d}") (d.outPath == "${d}") ]
