# corpus: json
[ (builtins.replaceStrings [ "a" ] [ "A" ] "banana") (builtins.replaceStrings [ "an" "b" ] [ "AN" "B" ] "banana") (builtins.replaceStrings [ ] [ ] "same") (builtins.replaceStrings [ "x" ] [ "" ] "xaxbx") ]
