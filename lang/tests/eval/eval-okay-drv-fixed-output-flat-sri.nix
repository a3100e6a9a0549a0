# SRI form: outputHashAlgo may be omitted.
let d = derivation {
  name = "fixed-flat"; system = "x86_64-linux"; builder = "/bin/sh";
  outputHash = "sha256-BZrkvxDwuFRJtx95r32LDDKP2uWg4pdaMzOwSNaTcng=";
}; in [ d.drvPath d.outPath ]
