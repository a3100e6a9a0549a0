# A lexical binding always beats `with`, even an outer one.
let a = "let"; in
with { a = "with"; b = "with-b"; };
[ a b ]
