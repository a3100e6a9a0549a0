# builtins.nixPath lists -I entries first, then NIX_PATH; paths are machine-specific.
map (e: e.prefix) builtins.nixPath
