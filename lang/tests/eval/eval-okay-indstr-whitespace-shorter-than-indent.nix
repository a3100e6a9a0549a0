# A spaces-only line shorter than the indentation becomes empty.
''
      a
  
      b
''
