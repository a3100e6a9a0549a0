# Printing rounds to 6 significant digits, but values keep full precision.
let a = 1.0000001; in [ a (a == 1.0) (a - 1.0 > 0) 1234.5678 (1234.5678 * 1000) ]
