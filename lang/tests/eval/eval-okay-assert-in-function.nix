let safeDiv = a: b: assert b != 0; a / b; in [ (safeDiv 10 2) (builtins.tryEval (safeDiv 1 0)) ]
