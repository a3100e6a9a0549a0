# corpus: json
[ (builtins.split "," "a,b,c") (builtins.split "(,)" "a,b") (builtins.split "x" "abc") (builtins.split "," "") (builtins.split "," ",a,") ]
