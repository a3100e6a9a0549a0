# toFile cannot refer to derivation outputs.
let d = derivation { name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; }; in builtins.toFile "f" "${d}"
