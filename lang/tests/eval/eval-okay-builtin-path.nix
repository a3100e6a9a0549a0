# builtins.path copies a file or directory into the store.
[ (builtins.path { path = ./data/hello.txt; }) (builtins.path { path = ./data/hello.txt; name = "renamed"; }) (builtins.path { path = ./data/dir; }) ]
