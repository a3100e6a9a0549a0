# A definition of the wrong type is reported when its own value is used, not when another
# attribute of the same set is (testing that a merged value exists must not force it).
let
  lib = import ../lib;
  config = (lib.evalModules {
    modules = [
      { options.s = lib.mkOption { type = lib.types.attrsOf lib.types.int; }; }
      { s = { good = 1; bad = "not an int"; }; }
      ({ config, ... }: {
        options.flags = lib.mkOption { type = lib.types.attrsOf lib.types.bool; default = { }; };
        # A module reading options another module defines.
        config.flags.hasGood = config.s ? good;
      })
    ];
  }).config;
in
[ config.s.good (builtins.attrNames config.s) config.flags.hasGood (builtins.tryEval config.s.bad).success ]
