let pkgs = [ { name = "a"; version = "1"; } { name = "b"; } { version = "3"; } ]; in
{ names = builtins.catAttrs "name" pkgs; versions = builtins.catAttrs "version" pkgs; }
