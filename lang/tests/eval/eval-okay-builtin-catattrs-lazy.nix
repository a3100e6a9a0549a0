# catAttrs forces the list elements (to look for the attribute) but not the values.
builtins.length (builtins.catAttrs "v" [ { v = throw "lazy"; } { w = 1; } { v = 2; } ])
