let lib = import ./lib/mini-lib.nix; in
[ (lib.filterAttrs (n: v: v > 1) { a = 1; b = 2; c = 3; }) (lib.mapAttrsToList (n: v: "${n}=${toString v}") { x = 1; y = 2; }) (lib.toUpperAscii "hello, world") ]
