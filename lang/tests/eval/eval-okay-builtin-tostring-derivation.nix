let d = derivation { name = "ts"; system = "x86_64-linux"; builder = "/bin/sh"; }; in [ (toString d) (d.outPath == toString d) "${d}" ]
