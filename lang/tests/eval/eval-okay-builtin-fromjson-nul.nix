# A string ends at a decoded NUL (attribute names keep theirs); a float too small is 0.
[ (builtins.fromJSON "\"\\u0000\"") (builtins.fromJSON "\"a\\u0000b\"") (builtins.fromJSON "[\"x\\u0000\", 1e-400]") ]
