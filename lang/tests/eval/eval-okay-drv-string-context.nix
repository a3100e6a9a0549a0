let
  dep = derivation { name = "ctx-dep"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out" "bin" ]; };
  s = "${dep}/bin and ${dep.bin}/x";
in
[ (builtins.hasContext s) (builtins.getContext s) (builtins.getContext dep.drvPath) ]
