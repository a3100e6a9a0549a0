let d = derivation { name = "path-builder"; system = "x86_64-linux"; builder = ./data/dir/script.sh; }; in
[ d.drvPath d.outPath ]
