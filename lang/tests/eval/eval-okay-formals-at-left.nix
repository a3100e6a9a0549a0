let f = args@{ a, ... }: [ a args.b (builtins.attrNames args) ]; in f { a = 1; b = 2; }
