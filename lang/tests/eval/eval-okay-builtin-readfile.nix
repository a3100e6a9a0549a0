# corpus: json
[ (builtins.readFile ./data/hello.txt) (builtins.readFile ./data/no-newline.txt) (builtins.readFile ./data/lines.txt) (builtins.readFile ./data/unicode.txt) ]
