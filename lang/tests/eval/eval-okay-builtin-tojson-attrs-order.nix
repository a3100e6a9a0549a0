builtins.toJSON { b = 1; a = 2; "" = 3; "c d" = 4; }
