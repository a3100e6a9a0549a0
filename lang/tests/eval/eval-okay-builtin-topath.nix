# toPath (deprecated) returns a string, not a path.
[ (builtins.toPath "/a/b/../c") (builtins.typeOf (builtins.toPath "/x")) (builtins.toPath "/a//b/./c/") ]
