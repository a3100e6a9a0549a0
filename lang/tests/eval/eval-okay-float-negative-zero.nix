# -0.0 literal is `0 - 0.0` = 0; a real negative zero (from JSON) prints as -0.
[ (-0.0) (builtins.fromJSON "-0.0") (0.0 * -1) (builtins.fromJSON "-0.0" == 0.0) ]
