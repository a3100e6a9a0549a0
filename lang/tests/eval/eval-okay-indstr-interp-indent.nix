# An interpolation at the start of a line counts as non-blank content, so a
# less-indented interpolation lowers the common indentation.
let x = "X"; in
''
    a
  ${x}
    b
''
