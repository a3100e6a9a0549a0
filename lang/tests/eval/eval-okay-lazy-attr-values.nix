builtins.attrNames { a = throw "a"; b = abort "b"; c = 1; }
