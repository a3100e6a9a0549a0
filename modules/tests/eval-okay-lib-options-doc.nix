# lib.options: mkPackageOption (the reference's examples), mkSinkUndeclaredOptions,
# renderOptionValue, optionAttrSetToDocList, mergeDefaultOption on functions, and
# showOptionWithDefLocs on an evaluated option.
let
  lib = import ../lib;
  pkgs = {
    hello = { type = "derivation"; name = "hello"; outPath = "/nix/store/00000000000000000000000000000000-hello"; };
    ghc = { type = "derivation"; name = "ghc"; outPath = "/nix/store/00000000000000000000000000000000-ghc"; };
    nushell = { type = "derivation"; name = "nushell"; outPath = "/nix/store/00000000000000000000000000000000-nushell"; };
    python3Packages.pytorch = { type = "derivation"; name = "pytorch"; outPath = "/nix/store/00000000000000000000000000000000-pytorch"; };
    javaPackages.openjfx20 = { type = "derivation"; name = "openjfx20"; outPath = "/nix/store/00000000000000000000000000000000-openjfx20"; };
  };
  show = o: {
    default = if o ? default then (if o.default == null then null else o.default.name) else "<none>";
    defaultText = o.defaultText or "<none>";
    inherit (o) description;
    type = o.type.description;
    example = o.example or "<none>";
  };
  eval = lib.evalModules {
    modules = [
      ({ lib, ... }: {
        options.a.b = lib.mkOption { type = lib.types.int; default = 1; description = "An int."; example = 3; };
        options.s = lib.mkOption {
          type = lib.types.submodule { options.x = lib.mkOption { type = lib.types.str; defaultText = lib.literalExpression "\"x\""; }; };
          default = { x = "x"; };
          description = "A submodule.";
        };
        options.sink = lib.mkSinkUndeclaredOptions { };
      })
      { a.b = 2; sink.anything = 3; }
    ];
  };
in
[
  (show (lib.mkPackageOption pkgs "hello" { }))
  (show (lib.mkPackageOption pkgs "GHC" {
    default = [ "ghc" ];
    example = "pkgs.haskellPackages.ghc.withPackages (hkgs: [ hkgs.primes ])";
  }))
  (show (lib.mkPackageOption pkgs [ "python3Packages" "pytorch" ] {
    extraDescription = "This is an example and doesn't actually do anything.";
  }))
  (show (lib.mkPackageOption pkgs "nushell" { nullable = true; }))
  (show (lib.mkPackageOption pkgs "coreutils" { default = null; }))
  (show (lib.mkPackageOption pkgs "dbus" { nullable = true; default = null; }))
  (show (lib.mkPackageOption pkgs.javaPackages "OpenJFX" { default = "openjfx20"; pkgsText = "pkgs.javaPackages"; }))
  (lib.options.renderOptionValue [ 1 "a" ])
  (lib.options.renderOptionValue (lib.literalMD "*x*"))
  (map (d: { inherit (d) name type; default = d.default or null; example = d.example or null; })
    (lib.optionAttrSetToDocList (removeAttrs eval.options [ "_module" ])))
  eval.config.a.b
  (lib.options.showOptionWithDefLocs eval.options.a.b)
  ((lib.mergeDefaultOption [ "f" ] [ { file = "a"; value = x: [ x ]; } { file = "b"; value = x: [ (x + 1) ]; } ]) 1)
]
