# corpus: json
map builtins.toJSON [ 0.1 1.0 1.5e-7 1.0e20 (1.0 / 3) (-2.5) 123456789.0 ]
