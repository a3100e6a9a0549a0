# corpus: json
let d = derivation { name = "multi"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out" "dev" "lib" ]; }; in
{
  inherit (d) drvPath outPath outputs outputName;
  dev = d.dev.outPath;
  lib = d.lib.outPath;
  devName = d.dev.outputName;
  defaultIsOut = d.outPath == d.out.outPath;
  sameDrv = d.dev.drvPath == d.drvPath;
}
