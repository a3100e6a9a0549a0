builtins.fromTOML ''
  basic = "tab\tquote\""
  literal = 'C:\path'
  multi = """
  two
  lines"""
  "quoted key" = 1
  dotted.key = 2
''
