[ (builtins.match "([a-z]+)-([0-9]+)\\.([0-9]+)" "pkg-1.2") (builtins.match "(a|(b))+" "ab") (builtins.match "((x)|(y))" "y") (builtins.match "([^/]*)/(.*)" "dir/sub/file") ]
