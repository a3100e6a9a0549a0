[ (builtins.elemAt [ "a" "b" "c" ] 0) (builtins.elemAt [ "a" "b" "c" ] 2) (builtins.elemAt [ [ 1 ] ] 0) ]
