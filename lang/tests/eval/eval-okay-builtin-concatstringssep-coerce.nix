# Elements are coerced like interpolation: paths are copied to the store, and
# attrsets with __toString / outPath are accepted; ints are not.
builtins.concatStringsSep " " [ "a" { __toString = _: "b"; } { outPath = "c"; } ]
