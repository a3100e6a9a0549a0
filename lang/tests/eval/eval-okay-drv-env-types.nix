# Non-string attributes are turned into environment strings (ints, bools,
# null, lists joined with spaces, floats); the drv hash depends on that.
let d = derivation {
  name = "env-types"; system = "x86_64-linux"; builder = "/bin/sh";
  int = 42; t = true; f = false; n = null; list = [ "a" 1 [ "b" ] ]; float = 1.5; path = "string";
}; in
[ d.drvPath d.outPath ]
