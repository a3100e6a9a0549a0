# Relative paths inside an imported file are relative to that file.
builtins.readFile ../data/hello.txt
