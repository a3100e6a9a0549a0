# corpus: read-write
# fetchTarball also works offline with file://; sha256 is the NAR hash of the
# unpacked top-level directory (data/pkg.tar.gz holds pkg/README, pkg/default.nix).
let src = builtins.fetchTarball { url = "file://${toString ./data/pkg.tar.gz}"; sha256 = "1ya1m2n18dyrgbabc8ng2cywhjs3f9vkswppkb4gibzb1664iwnh"; }; in
[ src (builtins.readFile "${src}/README") (import src) (builtins.attrNames (builtins.readDir src)) ]
