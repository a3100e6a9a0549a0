[ (dirOf ./data/hello.txt == ./data) (builtins.typeOf (dirOf ./data/hello.txt)) (baseNameOf (dirOf ./data/dir/file.txt)) ]
