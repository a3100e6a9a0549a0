# `..` past a path's components is handled lexically.
[ (baseNameOf ./lib/../data) (baseNameOf ./data/dir/..) (baseNameOf ./data/dir/subdir/../..) (./data/dir/.. == ./data) ]
