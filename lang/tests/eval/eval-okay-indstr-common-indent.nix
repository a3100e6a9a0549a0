# The smallest indentation of all non-blank lines is removed.
''
    four
      six
   three
''
