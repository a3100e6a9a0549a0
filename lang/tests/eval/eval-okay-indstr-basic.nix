# corpus: json
''
  hello
  world
''
