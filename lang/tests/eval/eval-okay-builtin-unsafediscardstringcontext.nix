let
  d = derivation { name = "udsc"; system = "x86_64-linux"; builder = "/bin/sh"; };
  s = builtins.unsafeDiscardStringContext "${d}/bin";
in
[ s (builtins.hasContext s) (builtins.getContext s) ]
