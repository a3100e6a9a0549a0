builtins.toXML { d = derivation { name = "xml"; system = "x86_64-linux"; builder = "/bin/sh"; }; }
