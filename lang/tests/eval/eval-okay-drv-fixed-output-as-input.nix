# Depending on a fixed-output derivation: the dependent's hash uses the
# fixed output's hash, not its drv.
let
  fo = builder: derivation { name = "src"; system = "x86_64-linux"; inherit builder; outputHash = "sha256-BZrkvxDwuFRJtx95r32LDDKP2uWg4pdaMzOwSNaTcng="; };
  user = src: derivation { name = "user"; system = "x86_64-linux"; builder = "/bin/sh"; inherit src; };
in
[ (user (fo "/bin/sh")).outPath (user (fo "/bin/other")).outPath (user (fo "/bin/sh")).drvPath (user (fo "/bin/other")).drvPath ]
