# match must match the WHOLE string (it is anchored at both ends).
[ (builtins.match "foo" "foobar") (builtins.match "foo.*" "foobar") (builtins.match ".*bar" "foobar") (builtins.match "o+" "foo") ]
