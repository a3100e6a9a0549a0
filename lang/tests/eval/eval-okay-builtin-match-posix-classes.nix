[ (builtins.match "[[:alpha:]]+" "abcXYZ") (builtins.match "[[:digit:]]+" "12a") (builtins.match "[[:alnum:]_]+" "a_1") (builtins.match "[[:space:]]*([^[:space:]]+)[[:space:]]*" "  trimmed  ") ]
