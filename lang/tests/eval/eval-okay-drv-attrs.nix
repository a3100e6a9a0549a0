# The attributes of a derivation value; printing `d` itself would print the
# whole self-referential set, so only the names and drvAttrs are shown.
let d = derivation { name = "attrs"; system = "x86_64-linux"; builder = "/bin/sh"; extra = 1; }; in
[ (builtins.attrNames d) d.drvAttrs d.type (d.out == d) (d.all == [ d ]) ]
