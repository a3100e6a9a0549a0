let name = "world"; multi = "l1\n  l2"; in
''
  hello ${name}
    ${multi}
  end
''
