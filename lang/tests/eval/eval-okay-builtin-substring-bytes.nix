# Offsets are in bytes, not characters.
[ (builtins.substring 0 1 "é") (builtins.stringLength (builtins.substring 0 1 "é")) (builtins.substring 0 2 "é") (builtins.substring 1 4 "aé日") ]
