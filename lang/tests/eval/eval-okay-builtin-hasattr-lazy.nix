builtins.hasAttr "x" { x = throw "value is not forced"; }
