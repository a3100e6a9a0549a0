# <x> is sugar for builtins.findFile builtins.nixPath "x"
let p = builtins.findFile builtins.nixPath "named/file.txt"; in
[ (p == <named/file.txt>) (builtins.readFile p) ]
