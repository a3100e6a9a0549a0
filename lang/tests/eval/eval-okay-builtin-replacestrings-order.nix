# At each position the first matching pattern in the list wins; replaced
# text is not scanned again.
[ (builtins.replaceStrings [ "a" "aa" ] [ "1" "2" ] "aaa") (builtins.replaceStrings [ "aa" "a" ] [ "2" "1" ] "aaa") (builtins.replaceStrings [ "a" "b" ] [ "b" "a" ] "ab") ]
