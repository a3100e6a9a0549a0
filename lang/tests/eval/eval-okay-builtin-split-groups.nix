[ (builtins.split "([ab])(c)?" "1a2bc3") (builtins.split "([[:upper:]]+)" "xAByCz") (builtins.split "(x)|(y)" "axbyc") ]
