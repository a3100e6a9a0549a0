let
  lib = derivation { name = "lib"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out" "dev" ]; };
  app = derivation { name = "app"; system = "x86_64-linux"; builder = "/bin/sh"; inc = "${lib.dev}/include"; };
in
[ app.drvPath app.outPath (builtins.getContext app.drvAttrs.inc) ]
