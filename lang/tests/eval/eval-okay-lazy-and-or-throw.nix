let x = throw "x"; in [ (false && x) (true || x) (if false then x else 1) ]
