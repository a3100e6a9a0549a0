let s = "hello world"; len = builtins.stringLength s; in
[ (builtins.substring (len - 5) 5 s) (builtins.substring 6 (-1) s) (builtins.substring len 1 s) ]
