"sibling of default.nix"
