# lib.modules and lib.options helpers that are modules or definitions: the reference
# documentation's examples (showOption, mkMergedOptionModule) and NixOS's semantics.
let
  lib = import ../lib;
  eval = modules: import ./common.nix modules;
  base = { lib, ... }: {
    options.warnings = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
  };
in
[
  (lib.showOption [ "foo" "bar" "baz" ])
  (lib.showOption [ "foo" "bar.baz" "tux" ])
  (lib.showOption [ "windowManager" "2bwm" "enable" ])
  (lib.showOption [ "services" "<name>" "enable" ])
  (lib.showOption [ "services" "*" "enable" ])
  (lib.options.showOptionWithDefLocs { loc = [ "a" "b" ]; files = [ "/x.nix" "/y.nix" ]; })
  lib.unknownModule
  (lib.scrubOptionValue { a = { type = "derivation"; name = "hello"; }; b = [ 1 ]; _args = 1; })
  (lib.isType "option-type" lib.types.str)
  (lib.isOptionType lib.types.int)
  (lib.setType "foo" { a = 1; })
  (lib.options.mergeUniqueOption { message = "only one"; } [ "a" ] [ { file = "f"; value = 1; } ])
  (builtins.tryEval (lib.options.mergeUniqueOption { message = "only one"; } [ "a" ]
    [ { file = "f"; value = 1; } { file = "g"; value = 2; } ])).success
  # mkMergedOptionModule: two old options become one, with a warning per old option used.
  (eval [
    base
    ({ lib, ... }: {
      options.x.y.z = lib.mkOption { type = lib.types.str; default = "unset"; };
      imports = [
        (lib.mkMergedOptionModule [ [ "a" "b" "c" ] [ "d" "e" "f" ] ] [ "x" "y" "z" ] (config:
          let value = p: lib.getAttrFromPath p config; in
          if (value [ "a" "b" "c" ]) == true then "foo"
          else if (value [ "d" "e" "f" ]) == true then "bar"
          else "baz"))
      ];
    })
    { d.e.f = true; }
  ])
  # mkChangedOptionModule, and nothing happens when the old option is not set.
  (eval [
    base
    ({ lib, ... }: {
      options.port = lib.mkOption { type = lib.types.int; default = 1; };
      imports = [ (lib.mkChangedOptionModule [ "portString" ] [ "port" ] (config: lib.toInt config.portString)) ];
    })
    { portString = "8080"; }
  ]).port
  (eval [
    base
    ({ lib, ... }: {
      options.port = lib.mkOption { type = lib.types.int; default = 1; };
      imports = [ (lib.mkChangedOptionModule [ "portString" ] [ "port" ] (config: lib.toInt config.portString)) ];
    })
  ]).warnings
  # doRename keeps the priority of the old definitions: mkDefault on the old name loses to a
  # plain definition of the new one.
  (eval [
    base
    ({ lib, ... }: {
      options.new = lib.mkOption { type = lib.types.int; };
      imports = [ (lib.doRename { from = [ "old" ]; to = [ "new" ]; visible = false; warn = true; use = x: x; }) ];
    })
    ({ lib, ... }: { old = lib.mkDefault 1; })
    { new = 2; }
  ])
  # mkAliasDefinitions and mkDerivedConfig.
  (eval [
    ({ lib, options, config, ... }: {
      options.a = lib.mkOption { type = lib.types.int; };
      options.b = lib.mkOption { type = lib.types.int; };
      options.c = lib.mkOption { type = lib.types.int; };
      options.d = lib.mkOption { type = lib.types.int; };
      config.b = lib.mkAliasDefinitions options.a;
      config.c = lib.mkDerivedConfig options.a (x: x * 10);
      config.d = lib.mkDerivedConfig options.a (x: x * 10);
    })
    ({ lib, ... }: { a = lib.mkDefault 4; c = 7; })
  ])
  (eval [
    (lib.setDefaultModuleLocation "/somewhere.nix" ({ lib, ... }: { options.s = lib.mkOption { type = lib.types.str; }; }))
    (lib.modules.importJSON ./data/lib.json)
    ({ lib, ... }: { options.name = lib.mkOption { type = lib.types.str; }; options.list = lib.mkOption { type = lib.types.listOf lib.types.int; }; })
    ({ lib, ... }: { s = lib.mkAssert true "never" "asserted"; })
  ])
]
