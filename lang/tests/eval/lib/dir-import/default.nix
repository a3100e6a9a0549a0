# `import ./lib/dir-import` loads this default.nix
{ fromDefault = true; sibling = import ./sibling.nix; }
