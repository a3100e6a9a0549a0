# imported by tests; evaluates to an attrset
{ value = 42; name = "lib/simple.nix"; }
