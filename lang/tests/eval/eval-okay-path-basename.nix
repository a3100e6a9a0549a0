# Paths are resolved relative to the directory of the file. The absolute
# path depends on the machine, so only relative facts are printed.
[ (baseNameOf ./data/hello.txt) (builtins.typeOf ./data/hello.txt) (builtins.isPath ./.) ]
