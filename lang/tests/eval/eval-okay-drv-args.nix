let d = derivation { name = "with-args"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo hello > $out" ]; }; in
[ d.drvPath d.outPath d.args ]
