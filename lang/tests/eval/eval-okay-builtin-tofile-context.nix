let f = builtins.toFile "ctx" "x"; in [ (builtins.hasContext f) (builtins.attrNames (builtins.getContext f)) ]
