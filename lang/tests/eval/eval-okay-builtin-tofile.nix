# toFile computes a store path from name and contents.
[ (builtins.toFile "hello.txt" "Hello, corpus!\n") (builtins.toFile "empty" "") (builtins.toFile "script.sh" "#!/bin/sh\necho ${"interp"}\n") ]
