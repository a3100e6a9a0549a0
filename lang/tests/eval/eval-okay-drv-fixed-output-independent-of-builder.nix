# The output path of a fixed-output derivation depends only on the hash,
# mode and name, not on the builder or other attributes; the drv path does.
let
  mk = builder: extra: derivation { name = "fo"; system = "x86_64-linux"; inherit builder extra; outputHash = "sha256-BZrkvxDwuFRJtx95r32LDDKP2uWg4pdaMzOwSNaTcng="; };
  a = mk "/bin/sh" "1";
  b = mk "/bin/bash" "2";
in
[ (a.outPath == b.outPath) (a.drvPath == b.drvPath) a.outPath ]
