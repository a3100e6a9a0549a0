# lib.lists (orders, ends, prefixes) and lib.attrsets (paths, updates, outputs): the
# reference documentation's examples.
let
  lib = import ../lib;
  inherit (lib) hasPrefix;
  x = { a = { b = 3; }; };
  pkg = {
    type = "derivation"; name = "openssl-1.0.1r"; outPath = "/nix/store/00000000000000000000000000000000-openssl-1.0.1r";
    out = { outPath = "/nix/store/00000000000000000000000000000000-openssl-1.0.1r"; };
    dev = { outPath = "/nix/store/00000000000000000000000000000000-openssl-1.0.1r-dev"; };
  };
in
[
  (lib.toposort hasPrefix [ "/home/user" "other" "/" "/home" ])
  (lib.toposort hasPrefix [ "/home/user" "other" "/" "/home" "/" ])
  (lib.toposort hasPrefix [ "other" "/home/user" "/home" "/" ])
  (lib.toposort (a: b: a < b) [ 3 2 1 ])
  (lib.listDfs true hasPrefix [ "/home/user" "other" "/" "/home" ])
  (lib.listDfs true hasPrefix [ "/home/user" "other" "/" "/home" "/" ])
  (lib.uniqueStrings [ "foo" "bar" "foo" ])
  (lib.dropEnd 2 [ "a" "b" "c" "d" ])
  (lib.dropEnd 2 [ ])
  (lib.lists.takeEnd 2 [ "a" "b" "c" "d" ])
  (lib.lists.takeEnd 2 [ ])
  (lib.lists.commonPrefix [ 1 2 3 4 5 6 ] [ 1 2 4 8 ])
  (lib.lists.commonPrefix [ 1 2 3 ] [ 1 2 3 4 5 ])
  (lib.lists.commonPrefix [ 1 2 3 ] [ 4 5 6 ])
  (lib.attrsets.longestValidPathPrefix [ "a" "b" "c" ] x)
  (lib.attrsets.longestValidPathPrefix [ "a" ] x)
  (lib.attrsets.longestValidPathPrefix [ "z" "z" ] x)
  (lib.updateManyAttrsByPath [
    { path = [ "a" "b" ]; update = old: { d = old.c; }; }
    { path = [ "a" "b" "c" ]; update = old: old + 1; }
    { path = [ "x" "y" ]; update = old: "xy"; }
  ] { a.b.c = 0; })
  (lib.genAttrs' [ "foo" "bar" ] (s: lib.nameValuePair ("x_" + s) ("y_" + s)))
  (lib.attrsets.mapAttrsToListRecursive (path: value: "${lib.concatStringsSep "." path}=${value}")
    { n = { a = "A"; m = { b = "B"; c = "C"; }; }; d = "D"; })
  (lib.overrideExisting { } { a = 1; })
  (lib.overrideExisting { b = 2; } { a = 1; })
  (lib.overrideExisting { a = 3; b = 2; } { a = 1; })
  (lib.showAttrPath [ "foo" "10" "bar" ])
  (lib.showAttrPath [ ])
  "${lib.getFirstOutput [ "include" "dev" ] pkg}"
  "${lib.getInclude pkg}"
  "${lib.getStatic pkg}"
  (lib.unionOfDisjoint { a = 1; b = 2; } { b = 3; c = 4; }).c
  (builtins.tryEval (lib.unionOfDisjoint { a = 1; b = 2; } { b = 3; c = 4; }).b).success
]
