# A list that refers to itself lazily through let.
let
  xs = [ 1 (builtins.head xs + 1) (builtins.elemAt xs 1 + 1) ];
in
xs
