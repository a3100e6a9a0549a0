# A really dynamic name (not a plain string literal) is rejected in let.
let ${"a" + "b"} = 1; in ab
