{ source = "NIX_PATH entry fromenv"; }
