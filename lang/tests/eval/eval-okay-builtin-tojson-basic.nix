# corpus: json
builtins.toJSON { int = 1; neg = -5; str = "s"; t = true; f = false; n = null; list = [ 1 "two" [ 3 ] ]; nested = { a = { }; }; }
