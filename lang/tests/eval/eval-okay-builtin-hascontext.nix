let d = derivation { name = "hc"; system = "x86_64-linux"; builder = "/bin/sh"; }; in
[ (builtins.hasContext "plain") (builtins.hasContext "${d}") (builtins.hasContext d.outPath) (builtins.hasContext (placeholder "out")) (builtins.hasContext (builtins.unsafeDiscardStringContext "${d}")) ]
