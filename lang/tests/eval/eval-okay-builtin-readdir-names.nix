[ (builtins.attrNames (builtins.readDir ./data)) (builtins.readDir ./data/dir/subdir) ]
