# Evaluation does not care whether the system can build it.
let d = derivation { name = "other-system"; system = "aarch64-darwin"; builder = "/bin/sh"; }; in
[ d.drvPath d.outPath d.system ]
