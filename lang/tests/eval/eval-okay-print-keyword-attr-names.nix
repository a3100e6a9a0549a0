# Keywords are valid attribute names when quoted or after a dot.
let s = { "if" = 1; "then" = 2; "let" = 3; "rec" = 4; "or" = 5; }; in [ s s."if" s.or ]
