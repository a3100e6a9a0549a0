''
  don't 'quote' me
''
