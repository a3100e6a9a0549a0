# corpus: read-write
builtins.readDir (builtins.filterSource (path: type: baseNameOf path != "skip.tmp") ./data/dir)
