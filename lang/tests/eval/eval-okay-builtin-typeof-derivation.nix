builtins.typeOf (derivation { name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; })
