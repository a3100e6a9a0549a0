let d = derivation { name = "pass-as-file"; system = "x86_64-linux"; builder = "/bin/sh"; passAsFile = [ "big" ]; big = "lots of text"; small = "x"; }; in
[ d.drvPath d.outPath d.drvAttrs.passAsFile ]
