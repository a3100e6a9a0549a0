# corpus: json
let d = derivation { name = "minimal"; system = "x86_64-linux"; builder = "/bin/sh"; }; in
{ inherit (d) drvPath outPath name type outputName system builder; outputs = d.outputs or "no outputs attr"; }
