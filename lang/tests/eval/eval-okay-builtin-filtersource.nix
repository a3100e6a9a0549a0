[ (builtins.filterSource (path: type: true) ./data/dir) (builtins.filterSource (path: type: type == "directory" || baseNameOf path == "keep.txt") ./data/dir) ]
