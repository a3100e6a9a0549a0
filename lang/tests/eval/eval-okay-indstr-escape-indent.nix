# Escapes count as text: a line starting with ''\t after the indentation
# keeps the tab.
''
  ''\tx
  y
''
