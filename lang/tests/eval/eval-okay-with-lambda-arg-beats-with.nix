(a: with { a = "with"; }; a) "lambda"
