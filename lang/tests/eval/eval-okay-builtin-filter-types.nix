[ (builtins.filter builtins.isString [ 1 "a" null "b" ]) (builtins.filter (x: false) [ 1 2 ]) (builtins.filter (x: true) [ ]) ]
