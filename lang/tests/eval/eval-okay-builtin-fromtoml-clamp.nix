# Integers beyond 64 bits become the largest or smallest integer; floats beyond the double
# range the largest finite float.
builtins.fromTOML ''
  a = 9223372036854775808
  b = -9223372036854775809
  c = 99_999_999_999_999_999_999
  d = 0x7fffffffffffffffff
  e = [ 9223372036854775808, 1 ]
  f = 1e400
  g = 1e-400
  h = "9223372036854775808"
''
