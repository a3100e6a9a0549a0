let
  d = derivation { name = "gc"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out" "dev" ]; };
  f = builtins.toFile "gc-file" "x";
in
[ (builtins.getContext "none") (builtins.getContext "${d.dev} ${f}") (builtins.getContext d.drvPath) ]
