# corpus: json
[ (builtins.sort builtins.lessThan [ 3 1 2 5 4 ]) (builtins.sort (a: b: a > b) [ 3 1 2 ]) (builtins.sort builtins.lessThan [ ]) ]
