with { a = 1; b = 1; c = 1; };
with { b = 2; c = 2; };
with { c = 3; };
[ a b c ]
