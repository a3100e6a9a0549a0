# A spaces-only line longer than the indentation keeps the extra spaces.
''
  a
      
  b
''
