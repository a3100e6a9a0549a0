# corpus: read-write
# storePath of a path that exists in the store (created by toFile).
let p = builtins.toFile "for-storepath" "x"; in [ (builtins.storePath p == p) (builtins.hasContext (builtins.storePath p)) ]
