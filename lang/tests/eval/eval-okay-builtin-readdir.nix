# corpus: json
builtins.readDir ./data/dir
