# A toFile whose contents mention another store path records it as a reference.
let
  a = builtins.toFile "a.txt" "A";
  b = builtins.toFile "b.txt" "see ${a}";
in
[ a b ]
