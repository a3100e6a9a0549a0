let
  hex = derivation { name = "fixed-sha1"; system = "x86_64-linux"; builder = "/bin/sh"; outputHashAlgo = "sha1"; outputHash = "4157f74c227ccc304386372d23524923f84c9d47"; };
  rec1 = derivation { name = "fixed-sha1"; system = "x86_64-linux"; builder = "/bin/sh"; outputHashAlgo = "sha1"; outputHashMode = "recursive"; outputHash = "4157f74c227ccc304386372d23524923f84c9d47"; };
in
[ hex.drvPath hex.outPath rec1.drvPath rec1.outPath ]
