let
  a = derivation { name = "order"; system = "x86_64-linux"; builder = "/bin/sh"; x = "1"; y = "2"; };
  b = derivation { y = "2"; x = "1"; builder = "/bin/sh"; system = "x86_64-linux"; name = "order"; };
in
[ (a.drvPath == b.drvPath) a.drvPath ]
