# inherit inside a set can take variables that come from `with`.
with { a = 1; b = 2; }; { inherit a b; }
