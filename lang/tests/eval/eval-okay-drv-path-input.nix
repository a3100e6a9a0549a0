# corpus: read-write
# A path attribute is copied to the store; the derivation refers to the copy.
let d = derivation { name = "path-input"; system = "x86_64-linux"; builder = "/bin/sh"; src = ./data/hello.txt; dir = ./data/dir; }; in
[ d.drvPath d.outPath (builtins.typeOf d.drvAttrs.src) (baseNameOf d.drvAttrs.src) ]
