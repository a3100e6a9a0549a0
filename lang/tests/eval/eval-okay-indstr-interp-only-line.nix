let e = ""; in
''
  a
  ${e}
  b
''
