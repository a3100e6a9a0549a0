[ (builtins.pathExists (toString ./data + "/")) (builtins.pathExists (toString ./data + "/dir/subdir/nested.txt")) ]
