# findFile with a hand-made search path list.
let sp = [ { prefix = "mine"; path = toString ./data; } { prefix = ""; path = toString ./lib; } ]; in
[ (builtins.readFile (builtins.findFile sp "mine/hello.txt")) (import (builtins.findFile sp "simple.nix")).value ]
