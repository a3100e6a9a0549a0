# -I sub/dir=$CORPUS/search/prefix-target : a prefix with a slash.
import <sub/dir/thing.nix>
