# attrValues are in the order of the sorted names.
[ (builtins.attrValues { b = "second"; a = "first"; c = "third"; }) (builtins.attrValues { }) ]
