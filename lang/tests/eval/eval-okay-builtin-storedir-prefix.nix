let d = derivation { name = "sd"; system = "x86_64-linux"; builder = "/bin/sh"; }; in
[ (builtins.substring 0 (builtins.stringLength builtins.storeDir) d.outPath == builtins.storeDir) "${builtins.storeDir}/x" ]
