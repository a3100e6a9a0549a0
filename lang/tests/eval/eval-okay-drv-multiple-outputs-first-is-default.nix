# The first output listed is the default one (outPath / toString).
let d = derivation { name = "multi2"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "bin" "out" ]; }; in
[ d.outputName (d.outPath == d.bin.outPath) d.out.outPath d.drvPath (map (o: o.outputName) d.all) ]
