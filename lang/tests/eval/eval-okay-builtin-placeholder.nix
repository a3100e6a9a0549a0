# corpus: json
map builtins.placeholder [ "out" "dev" "bin" "doc" ]
