(derivation { name = "fun-attr"; system = "x86_64-linux"; builder = "/bin/sh"; f = x: x; }).drvPath
