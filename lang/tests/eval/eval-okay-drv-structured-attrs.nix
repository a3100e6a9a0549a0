let d = derivation {
  name = "structured"; system = "x86_64-linux"; builder = "/bin/sh";
  __structuredAttrs = true;
  list = [ 1 "two" { three = 3; } ];
  nested = { a.b = true; f = 1.5; n = null; };
}; in [ d.drvPath d.outPath ]
