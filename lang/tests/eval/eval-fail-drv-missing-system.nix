(derivation { name = "no-system"; builder = "/bin/sh"; }).drvPath
