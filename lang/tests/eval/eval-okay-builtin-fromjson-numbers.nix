# Integers stay ints, anything with . or e becomes a float.
map (s: let v = builtins.fromJSON s; in [ v (builtins.typeOf v) ])
  [ "0" "-12" "1.5" "1e3" "1E-2" "-0.0" "9223372036854775807" "2.0" "123456789012" ]
