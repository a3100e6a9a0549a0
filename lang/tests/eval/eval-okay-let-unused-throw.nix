# Unused bindings are never evaluated.
let
  boom = throw "never forced";
  alsoBoom = abort "never forced either";
  ok = "fine";
in
ok
