# Keys as Nix's ordered set compares them: an integer and a float of the same value are one
# key, strings by their text, lists element by element; and a long
# closure (every key compared with the ones seen before it).
let
  keys = start: map (x: x.key) (builtins.genericClosure { startSet = map (k: { key = k; }) start; operator = x: [ ]; });
  numbers = keys [ 1 1.0 2.5 2 2.0 (-0.0) 0 2.5 3 ];
  strings = keys [ "a" "b" "a" (toString ./a) "/a" "" ];
  paths = map baseNameOf (keys [ ./a ./b ./a ]);
  lists = keys [ [ 1 2 ] [ 1 2.0 ] [ 1 ] [ ] [ 1 3 ] [ 4 5 ] [ 4 5.0 ] ];
  # The orbit of 0 under x -> x + 7 (mod 5000): every key once, in a scrambled order, each
  # also giving itself again.
  long = builtins.genericClosure {
    startSet = [ { key = 0; } ];
    operator = x: [ { key = x.key + 7 - (x.key + 7) / 5000 * 5000; } { key = x.key; } ];
  };
  single = keys [ true ];
in [ numbers (builtins.length strings) paths lists (builtins.length long) (builtins.elemAt long (builtins.length long - 1)).key single ]
