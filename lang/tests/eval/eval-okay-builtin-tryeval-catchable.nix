# In Nix 2.8 only throw and failed asserts are catchable: check a few.
[ (builtins.tryEval (throw "t")).success (builtins.tryEval (assert 1 == 2; 0)).success (builtins.tryEval (builtins.addErrorContext "ctx" (throw "t"))).success ]
