(derivation { name = "bad-hash"; system = "x86_64-linux"; builder = "/bin/sh"; outputHashAlgo = "sha256"; outputHash = "not-a-hash"; }).outPath
