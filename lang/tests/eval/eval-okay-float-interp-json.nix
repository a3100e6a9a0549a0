# corpus: json
{ a = 0.1; b = 1.5e-7; c = 1.0e20; d = 2.0; e = (1.0 / 3); }
