# Option types nixpkgs' lib has and NixOS words so: luaInline, pkgs, optionType (whose
# definitions merge), deferredModuleWith, and submodules in parentheses inside other types.
let
  lib = import ../lib;
  t = lib.types;
  eval = import ./common.nix;
  c = eval [
    {
      options.ty = lib.mkOption { type = t.optionType; };
      options.m = lib.mkOption { type = t.deferredModuleWith { staticModules = [ { x = 1; } ]; }; };
    }
    { ty = t.submodule { options.a = lib.mkOption { type = t.int; default = 1; }; }; m = { y = 2; }; }
    { ty = t.submodule { options.b = lib.mkOption { type = t.int; default = 2; }; }; }
  ];
in
[
  (map (x: x.description) [
    t.luaInline
    t.pkgs
    t.optionType
    (t.deferredModuleWith { })
    (t.listOf (t.submodule { }))
    (t.nullOr (t.submodule { }))
    (t.attrsOf (t.submodule { }))
    (t.nonEmptyListOf t.str)
    (t.nonEmptyListOf (t.submodule { }))
    (t.listOf (t.attrsOf (t.either t.str t.int)))
    (t.nullOr (t.either t.str t.int))
  ])
  (t.luaInline.check (lib.generators.mkLuaInline "x"))
  (t.luaInline.check "x")
  c.m.imports
  (builtins.removeAttrs (c.ty.merge [ "ty" ] [ { file = "f"; value = { }; } ]) [ "_module" ])
]
