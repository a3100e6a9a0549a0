let
  dep = derivation { name = "disc"; system = "x86_64-linux"; builder = "/bin/sh"; };
in
[ (builtins.getContext dep.drvPath) (builtins.getContext (builtins.unsafeDiscardOutputDependency dep.drvPath)) ]
