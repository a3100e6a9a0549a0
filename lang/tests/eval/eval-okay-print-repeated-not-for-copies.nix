# Structurally equal but separately built values are printed in full.
let mk = _: { a = 1; }; in [ (mk 1) (mk 2) { a = 1; } { a = 1; } ]
