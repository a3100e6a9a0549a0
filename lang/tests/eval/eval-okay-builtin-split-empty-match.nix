[ (builtins.split "" "ab") (builtins.split "a*" "baaac") ]
