let d = derivation { name = "all"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out" "a" "b" ]; }; in
map (o: [ o.outputName o.outPath ]) d.all
