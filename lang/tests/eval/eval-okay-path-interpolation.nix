# Interpolation inside a path literal.
let name = "hello"; in builtins.readFile ./data/${name}.txt
