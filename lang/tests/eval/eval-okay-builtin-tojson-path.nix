# A path is copied to the store and its store path is used.
builtins.toJSON { p = ./data/hello.txt; }
