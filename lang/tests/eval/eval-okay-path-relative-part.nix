let
  base = toString ./.;
  rel = p: builtins.substring (builtins.stringLength base) 1000 (toString p);
in
[ (rel ./data/hello.txt) (rel ./data/../lib/simple.nix) (rel ./data/./dir) ]
