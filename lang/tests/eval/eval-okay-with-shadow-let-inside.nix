with { a = "with"; };
let b = a; in let a = "let"; in [ a b ]
