# Lists are joined with spaces, recursively; null and false become "", true "1".
[ (toString [ 1 2 3 ]) (toString [ "a" [ "b" [ "c" ] ] ]) (toString [ ]) (toString [ null true false 1 ]) (toString [ [ ] [ ] ]) ]
