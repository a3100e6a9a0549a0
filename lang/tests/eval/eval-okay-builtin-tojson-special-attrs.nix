# __toString and outPath turn an attrset into a JSON string.
[ (builtins.toJSON { __toString = _: "via toString"; }) (builtins.toJSON { outPath = "via outPath"; other = 1; }) (builtins.toJSON [ { outPath = "x"; } ]) ]
