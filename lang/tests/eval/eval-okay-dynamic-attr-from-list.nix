let names = [ "p" "q" "r" ]; in
builtins.listToAttrs (map (n: { name = n; value = { ${n} = n; }; }) names)
