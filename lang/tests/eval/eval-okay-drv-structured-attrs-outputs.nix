let d = derivation {
  name = "structured-multi"; system = "x86_64-linux"; builder = "/bin/sh";
  __structuredAttrs = true; outputs = [ "out" "doc" ];
}; in [ d.drvPath d.outPath d.doc.outPath ]
