# nix-instantiate prints floats with 6 significant digits (printf %g-like).
[ (0.1 + 0.2) 1.0 2.5 (1.0 / 3) (2.0 / 3) 123456.7 1234567.0 100000.0 1000000.0 0.0001 0.00001 3.14159265358979 ]
