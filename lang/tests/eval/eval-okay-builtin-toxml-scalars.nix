builtins.toXML { i = 1; s = "str <&>"; b = true; n = null; f = 1.5; l = [ 1 "x" ]; }
