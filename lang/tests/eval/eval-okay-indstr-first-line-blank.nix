# A first line holding only spaces is dropped entirely.
''   
  a
  b
''
