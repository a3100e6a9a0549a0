# Using bit operations for flag sets.
let
  READ = 4; WRITE = 2; EXEC = 1;
  has = flags: f: builtins.bitAnd flags f != 0;
  mode = builtins.bitOr READ (builtins.bitOr WRITE EXEC);
  toggled = builtins.bitXor mode WRITE;
in
[ mode toggled (has toggled WRITE) (has toggled READ) (builtins.bitXor 5 5) (builtins.bitAnd (-8) 7) (builtins.bitOr (-8) 7) ]
