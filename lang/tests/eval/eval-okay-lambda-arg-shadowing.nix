let x = 1; in (x: (x: x) (x + 10)) (x + 100)
