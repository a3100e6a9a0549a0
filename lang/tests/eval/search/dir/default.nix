{ x = 1; y = "from search/dir/default.nix"; }
