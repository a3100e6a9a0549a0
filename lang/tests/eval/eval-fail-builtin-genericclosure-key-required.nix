builtins.genericClosure { startSet = [ { key = 1; } { value = 2; } ]; operator = x: [ ]; }
