# toString of a float uses a different format (std::to_string: 6 decimals).
[ (toString 0.1) (toString 1.0) (toString (1.0 / 3)) (toString 1.0e10) (toString (-2.5)) (toString 1.0e-7) ]
