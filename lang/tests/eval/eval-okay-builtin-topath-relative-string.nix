# toPath of a string with .. and . components normalises it.
[ (builtins.toPath "/") (builtins.toPath "/a/./b/../../c") (builtins.toPath "//a") ]
