[ (builtins.hashString "sha256" "héllo wörld") (builtins.hashString "md5" "line\n") ]
