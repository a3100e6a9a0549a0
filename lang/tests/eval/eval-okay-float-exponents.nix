# Exponent literals need a dot in the mantissa (`1e10` is not a float in 2.8).
[ 1.0e10 1.5e-7 1.0e300 1.0e-300 2.5E3 1.0e+2 .5 0.5e1 1.e2 ]
