# ${"name"} and "name" with a plain string literal are static names: they are
# allowed in let and are in scope in rec sets.
[ (let ${"a"} = 1; "b" = 2; in a + b) (rec { ${"c"} = 3; d = c; }) ]
