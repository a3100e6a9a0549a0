# Takes the attribute names of the first set and the values of the second.
[ (builtins.intersectAttrs { a = 0; b = 0; } { a = "A"; c = "C"; b = "B"; }) (builtins.intersectAttrs { } { a = 1; }) (builtins.intersectAttrs { x = 1; } { }) ]
