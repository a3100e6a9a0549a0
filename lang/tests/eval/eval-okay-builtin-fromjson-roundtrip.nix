let v = { a = [ 1 2 { b = "c"; } ]; d = null; e = true; f = "str\n"; }; in
[ (builtins.fromJSON (builtins.toJSON v) == v) (builtins.toJSON (builtins.fromJSON ''{"z":1,"a":[]}'')) ]
