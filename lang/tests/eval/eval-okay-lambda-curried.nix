let add3 = a: b: c: a + b + c; in [ (add3 1 2 3) ((add3 1) 2 3) (((add3 1) 2) 3) ]
