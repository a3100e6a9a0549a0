{ who = "named-root/default.nix"; }
