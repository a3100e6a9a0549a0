# corpus: json
builtins.fromTOML ''
  str = "s"
  int = 42
  float = 1.5
  bool = true
  arr = [ 1, 2, 3 ]
  [table]
  key = "v"
  [table.sub]
  deep = "d"
  [[aot]]
  n = 1
  [[aot]]
  n = 2
''
