let f = { a, ... }@args: [ a args.b (builtins.attrNames args) ]; in f { a = 1; b = 2; }
