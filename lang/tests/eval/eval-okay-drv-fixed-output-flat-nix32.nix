let d = derivation {
  name = "fixed-flat"; system = "x86_64-linux"; builder = "/bin/sh";
  outputHashMode = "flat"; outputHashAlgo = "sha256";
  outputHash = "0y3jjgb4ic1k6dd9gqm0wpd8ychcidysyy8znx4m9f7h22zy96h5";
}; in [ d.drvPath d.outPath ]
