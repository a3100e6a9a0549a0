# tryEval returns the value forced to weak head normal form.
map (v: (builtins.tryEval v).value) [ 1 "s" [ 1 ] { } null ]
