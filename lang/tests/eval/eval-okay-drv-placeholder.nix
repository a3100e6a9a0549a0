let d = derivation { name = "placeholder"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out" "dev" ]; args = [ "-c" "echo ${placeholder "dev"} > ${placeholder "out"}" ]; }; in
[ (placeholder "out") (placeholder "dev") d.drvPath d.outPath ]
