# toString of a path is its absolute, normalised form (no trailing slash).
let s = toString ./data/dir; in
[ (builtins.substring 0 1 s) (builtins.match ".*/data/dir" s != null) (builtins.match ".*/$" s) ]
