# Evaluates modules with strata's library and returns their configuration, without `_module`.
modules:
let
  lib = import ../lib;
  strip = v: if builtins.isAttrs v && !(lib.isDerivation v) then builtins.mapAttrs (n: strip) (builtins.removeAttrs v [ "_module" ]) else v;
in strip (lib.evalModules { inherit modules; }).config
