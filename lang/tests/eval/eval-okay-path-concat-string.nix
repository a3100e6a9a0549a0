# path + string is a path (normalised); string + path is a string.
let p = ./data + "/hello.txt"; in
[ (builtins.typeOf p) (builtins.readFile p) (builtins.typeOf ("" + ./data)) (baseNameOf (./data + "/dir/")) ]
