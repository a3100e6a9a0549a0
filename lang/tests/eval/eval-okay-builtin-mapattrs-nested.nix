builtins.mapAttrs (n: v: builtins.mapAttrs (n2: v2: n + "." + n2) v) { a = { x = 1; }; b = { y = 1; z = 2; }; }
