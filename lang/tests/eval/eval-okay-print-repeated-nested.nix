let leaf = { v = "leaf"; }; mid = { inherit leaf; again = leaf; }; in
{ inherit mid; other = mid; list = [ leaf ]; }
