# The with expression is only evaluated when a variable is looked up in it.
[ (with throw "never"; 1) (with { a = 2; }; a) ]
