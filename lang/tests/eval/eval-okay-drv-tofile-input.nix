let
  script = builtins.toFile "builder.sh" "echo building > $out\n";
  d = derivation { name = "tofile-input"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ script ]; };
in
[ script d.drvPath d.outPath ]
