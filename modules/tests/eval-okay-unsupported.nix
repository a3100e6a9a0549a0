# lib.mkUnsupportedOption: a warning for each option a definition gives a value that matters
# (not for one left alone, set to its default, or set to a value its `quietWhen' accepts),
# including options inside the elements of a set of submodules.
let
  lib = import ../lib;
  inherit (lib) types mkUnsupportedOption;
  eval = lib.evalModules {
    modules = [
      ({ options, ... }: {
        options.warnings = lib.mkOption { type = types.listOf types.str; default = [ ]; };
        options.a.enable = mkUnsupportedOption { type = types.bool; default = false; reason = "no a."; };
        options.b.enable = mkUnsupportedOption { type = types.bool; default = false; reason = "no b."; };
        options.c = mkUnsupportedOption { type = types.bool; default = true; yet = true; quietWhen = v: !v; reason = "no c."; };
        options.d = mkUnsupportedOption { type = types.bool; default = true; quietWhen = v: !v; reason = "no d."; };
        options.e = mkUnsupportedOption { type = types.bool; default = true; quietWhen = v: !v; reason = "no e."; };
        options.users = lib.mkOption {
          type = types.attrsOf (types.submodule {
            options.pkgs = mkUnsupportedOption { type = types.listOf types.str; default = [ ]; yet = true; reason = "no pkgs."; };
          });
          default = { };
        };
        config.warnings = lib.unsupportedWarnings options;
      })
      { a.enable = true; b.enable = false; c = lib.mkDefault true; e = false; users.x.pkgs = [ "p" ]; users.y = { }; users."x y".pkgs = [ "q" ]; }
    ];
  };
in eval.config.warnings
