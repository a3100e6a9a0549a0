[ (builtins.typeOf <hello.nix>) (baseNameOf <named>) (builtins.pathExists <named/file.txt>) (builtins.pathExists (toString <dir> + "/nope")) ]
