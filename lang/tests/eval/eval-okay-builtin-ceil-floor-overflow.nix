# Out of the integers' range, ceil and floor give the smallest integer, whatever the sign.
[ (builtins.ceil 1.0e300) (builtins.floor 1.0e300) (builtins.floor (-1.0e300)) (builtins.ceil (-1.0e300))
  (builtins.ceil 9.3e18) (builtins.floor 9.2e18) (builtins.floor (-9.223372036854775808e18)) ]
