let lib = import ./lib/mini-lib.nix; in
[ (lib.foldr (a: b: a + b) 0 [ 1 2 3 ]) (lib.range 3 7) (lib.reverseList [ 1 2 3 ]) (lib.flatten [ 1 [ 2 [ 3 [ ] ] ] 4 ]) (lib.unique [ 1 2 1 3 2 ]) ]
