builtins.filter builtins.isString (builtins.split "[[:space:]]+" "  hello   big\tworld ")
