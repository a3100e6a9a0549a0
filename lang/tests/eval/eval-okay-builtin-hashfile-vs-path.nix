[ (builtins.hashFile "sha256" ./data/dir/file.txt) (builtins.hashString "sha256" "regular file\n") ]
