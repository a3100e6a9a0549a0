builtins.toJSON (derivation { name = "json-drv"; system = "x86_64-linux"; builder = "/bin/sh"; })
