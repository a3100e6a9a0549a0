# corpus: json
{ list = [ 1 [ 2 [ 3 ] ] { x = [ ]; } ]; set = { a = { b = { }; }; }; str = "s"; n = null; t = true; f = false; }
