# Context survives string operations and reaches the derivation that uses it.
let
  dep = derivation { name = "prop-dep"; system = "x86_64-linux"; builder = "/bin/sh"; };
  s = builtins.substring 0 1000 (builtins.replaceStrings [ "x" ] [ "y" ] (builtins.concatStringsSep " " [ "pre" "${dep}" ]));
  d = derivation { name = "prop"; system = "x86_64-linux"; builder = "/bin/sh"; env = s; };
  d2 = derivation { name = "prop"; system = "x86_64-linux"; builder = "/bin/sh"; env = builtins.unsafeDiscardStringContext s; };
in
[ (builtins.attrNames (builtins.getContext s)) d.drvPath d2.drvPath (d.outPath == d2.outPath) ]
