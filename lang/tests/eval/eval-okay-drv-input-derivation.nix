let
  dep = derivation { name = "dep"; system = "x86_64-linux"; builder = "/bin/sh"; };
  top = derivation { name = "top"; system = "x86_64-linux"; builder = "/bin/sh"; inherit dep; script = "cp ${dep}/file $out"; };
in
{ dep = { inherit (dep) drvPath outPath; }; top = { inherit (top) drvPath outPath; }; }
