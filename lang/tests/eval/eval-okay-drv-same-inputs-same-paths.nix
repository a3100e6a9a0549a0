let mk = _: derivation { name = "same"; system = "x86_64-linux"; builder = "/bin/sh"; x = "1"; }; in
[ ((mk 1).drvPath == (mk 2).drvPath) ((mk 1).outPath == (mk 2).outPath) ((mk 1) == (mk 2)) ]
