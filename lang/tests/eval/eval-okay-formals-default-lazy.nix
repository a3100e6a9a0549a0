# A default is only evaluated when the argument is missing.
let f = { a ? throw "default used" }: a; in f { a = "given"; }
