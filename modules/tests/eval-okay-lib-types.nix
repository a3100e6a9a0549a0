# Option types: descriptions worded as NixOS's, and the types added from nixpkgs' lib.
let
  lib = import ../lib;
  t = lib.types;
  eval = import ./common.nix;
in
[
  (map (x: x.description) [
    (t.either t.str t.int)
    (t.oneOf [ t.str t.int t.bool ])
    t.ints.positive
    t.ints.unsigned
    t.ints.u8
    (t.ints.between 1 5)
    t.port
    (t.listOf (t.either t.str t.int))
    (t.listOf t.str)
    (t.nullOr (t.listOf t.str))
    (t.attrsOf (t.submodule { }))
    (t.listOf (t.nullOr t.str))
    (t.either (t.listOf t.str) t.int)
    (t.enum [ "a" "b" ])
    (t.enum [ "a" ])
    (t.enum [ ])
    (t.functionTo (t.listOf t.str))
    (t.coercedTo t.int toString t.str)
    t.lines
    (t.passwdEntry t.str)
    t.pathInStore
    (t.pathWith { absolute = false; })
    (t.numbers.between 0 1)
    t.numbers.nonnegative
    t.numbers.positive
    t.boolByOr
    t.shellPackage
    t.deferredModule
    (t.attrsWith { elemType = t.int; lazy = true; })
    (t.attrTag { a = lib.mkOption { type = t.int; }; })
  ])
  (let c = eval [
    {
      options.flag = lib.mkOption { type = t.boolByOr; };
      options.ratio = lib.mkOption { type = t.numbers.between 0 1; };
      options.entry = lib.mkOption { type = t.passwdEntry t.str; };
      options.tag = lib.mkOption { type = t.attrTag { port = lib.mkOption { type = t.port; }; path = lib.mkOption { type = t.str; }; }; };
      options.counts = lib.mkOption { type = t.attrsWith { elemType = t.int; }; };
      options.deferred = lib.mkOption { type = t.deferredModule; };
    }
    { flag = false; ratio = 0.5; entry = "Alice Smith"; tag.port = 22; counts.a = 1; deferred = { x = 1; }; }
    { flag = true; counts.b = 2; }
  ]; in c // { deferred = builtins.length c.deferred.imports; })
  (map (v: t.pathInStore.check v) [ "${builtins.storeDir}/00000000000000000000000000000000-x" "/etc/x" 3 ])
  (map (v: (t.passwdEntry t.str).check v) [ "ok" "a:b" "a\nb" ])
  (map (v: t.numbers.positive.check v) [ 1 0.5 0 (-1) "1" ])
]
