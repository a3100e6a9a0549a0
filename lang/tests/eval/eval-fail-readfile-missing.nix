builtins.readFile ./data/no-such-file.txt
