# Importing the same file twice yields equal values.
[ (import ./lib/counter.nix == import ./lib/counter.nix) (import ./lib/counter.nix).n ]
