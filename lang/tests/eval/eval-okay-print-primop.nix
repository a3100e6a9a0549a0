[ builtins.map builtins.add (builtins.add 1) builtins.length (builtins.foldl' (a: b: a)) builtins.head ]
