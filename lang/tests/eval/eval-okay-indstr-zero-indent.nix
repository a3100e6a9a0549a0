''
no indent
  two
''
