builtins.path {
  path = ./data/dir;
  name = "filtered";
  filter = path: type: !(builtins.match ".*\\.tmp" path != null) && type != "symlink";
}
