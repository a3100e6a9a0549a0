builtins.getAttr "nope" { yes = 1; }
