let pkgs = { hello = 1; hallo = 2; world = 3; }; in pkgs.helo
