# Scalars, empty sets and empty lists are never «repeated».
let n = 1; s = "x"; e = { }; el = [ ]; in [ n n s s e e el el ]
