# <dir> resolves to a directory; import loads its default.nix
[ (import <dir>) (builtins.readFile <dir/data.txt>) ]
