# Trailing spaces on a line are kept.
''
  a   
  b 
''
