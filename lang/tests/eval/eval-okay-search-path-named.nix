# -I named=$CORPUS/search/named-root
[ (import <named>).who (builtins.readFile <named/file.txt>) (import <named/sub/triple.nix> 7) ]
