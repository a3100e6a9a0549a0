# toString of a path does not copy it to the store (unlike interpolation).
let p = toString ./data/hello.txt; in [ (builtins.substring 0 11 p == "/nix/store/") (baseNameOf p) (builtins.hasContext p) (builtins.hasContext "${./data/hello.txt}") ]
