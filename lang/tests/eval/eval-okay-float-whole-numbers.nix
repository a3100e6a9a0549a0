# Whole floats print without a decimal point.
[ 2.0 10.0 (5.0 * 2) 1.0e5 1.0e6 1.0e15 1.0e16 1.0e21 ]
