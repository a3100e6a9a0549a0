# corpus: read-write
builtins.readFile "${builtins.path { path = ./data/hello.txt; name = "copied.txt"; }}"
