# isString is false for paths and for attrsets with __toString.
[ (builtins.isString ./data) (builtins.isString { __toString = _: "x"; }) (builtins.isString "${./data}") (builtins.isString (toString ./data)) ]
