# An attrset with type = "derivation" is still printed in full by --eval --strict.
{ type = "derivation"; name = "fake"; outPath = "/nix/store/fake"; }
