[ (map (x: x) [ ]) (map (map (x: x + 1)) [ [ 1 ] [ 2 3 ] ]) (map builtins.typeOf [ 1 "a" null [ ] { } 1.5 true ]) ]
