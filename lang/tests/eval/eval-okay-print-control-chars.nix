# Only \n \r \t \" \\ and \${ are escaped when printing; other control
# characters (here U+0001 from JSON) and UTF-8 are printed raw.
[ (builtins.fromJSON ''"a\u0001b"'') "\n\r\t" "é" ]
