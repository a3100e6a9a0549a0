# The same as eval-okay-drv-path-input.nix but without --read-write-mode:
# the store paths are only computed, with the same result.
let d = derivation { name = "path-input"; system = "x86_64-linux"; builder = "/bin/sh"; src = ./data/hello.txt; dir = ./data/dir; }; in
[ d.drvPath d.outPath ]
