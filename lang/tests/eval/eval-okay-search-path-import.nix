# -I $CORPUS/search is on the search path (see README.md)
import <hello.nix>
