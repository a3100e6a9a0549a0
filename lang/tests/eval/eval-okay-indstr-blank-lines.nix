# Blank lines (and lines of spaces only) do not count for the indentation.
''
    a

    b
  
        
    c
''
