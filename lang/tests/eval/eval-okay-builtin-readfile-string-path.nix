# readFile accepts a string containing an absolute path.
builtins.readFile (toString ./data/hello.txt)
