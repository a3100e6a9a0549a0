# `name` with a dash-number suffix, an attribute set to null (becomes ""), and __ignoreNulls.
let
  a = derivation { name = "nulls"; system = "x86_64-linux"; builder = "/bin/sh"; n = null; };
  b = derivation { name = "nulls"; system = "x86_64-linux"; builder = "/bin/sh"; n = null; __ignoreNulls = true; };
  c = derivation { name = "nulls"; system = "x86_64-linux"; builder = "/bin/sh"; __ignoreNulls = true; };
in
[ a.drvPath b.drvPath c.drvPath (b.drvPath == c.drvPath) ]
