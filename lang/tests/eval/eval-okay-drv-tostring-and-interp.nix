let d = derivation { name = "interp"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out" "man" ]; }; in
[ "${d}" "${d.man}" (toString d.man) (builtins.toJSON { inherit d; }) ]
