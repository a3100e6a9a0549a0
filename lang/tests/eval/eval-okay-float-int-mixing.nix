# int op float gives a float; int op int stays int.
[ (1 + 0.5) (2 * 1.5) (3 / 2) (3 / 2.0) (3.0 / 2) (1 - 1.0) (builtins.typeOf (1 + 1.0)) (builtins.typeOf (2 * 1)) ]
