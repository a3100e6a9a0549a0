let f = import ./lib/function.nix; in [ (f { a = 5; }) (f { a = 5; b = 10; }) ]
