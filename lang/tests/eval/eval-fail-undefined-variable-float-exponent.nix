# `1e10` is not a float literal in Nix 2.8: it lexes as the int 1 applied to `e10`.
1e10
