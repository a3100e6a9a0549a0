# Same hash as -nix32 but in base16: same output path, but the .drv stores
# outputHash as written, so the drv path differs.
let d = derivation {
  name = "fixed-flat"; system = "x86_64-linux"; builder = "/bin/sh";
  outputHashAlgo = "sha256";
  outputHash = "059ae4bf10f0b85449b71f79af7d8b0c328fdae5a0e2975a3333b048d6937278";
}; in [ d.drvPath d.outPath ]
