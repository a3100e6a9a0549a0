# Extra fields are ignored; the value is lazy.
[ (builtins.listToAttrs [ { name = "a"; value = 1; extra = throw "ignored"; } ]) (builtins.attrNames (builtins.listToAttrs [ { name = "lazy"; value = throw "lazy"; } ])) (builtins.listToAttrs [ ]) ]
