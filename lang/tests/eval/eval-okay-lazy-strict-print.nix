# --strict forces everything reachable from the result, in nested sets and lists.
{ a = { b = { c = [ (1 + 1) { d = "e" + "f"; } ]; }; }; }
