# An empty pattern matches at every position (between characters and at the end).
[ (builtins.replaceStrings [ "" ] [ "-" ] "abc") (builtins.replaceStrings [ "" ] [ "-" ] "") (builtins.replaceStrings [ "b" "" ] [ "B" "_" ] "abc") ]
