let
  d = derivation { name = "ac"; system = "x86_64-linux"; builder = "/bin/sh"; };
  plain = builtins.unsafeDiscardStringContext d.drvPath;
  again = builtins.appendContext plain { ${plain} = { outputs = [ "out" ]; }; };
in
[ (builtins.hasContext plain) (builtins.getContext again) ]
