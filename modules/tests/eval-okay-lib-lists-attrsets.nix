# lib.lists and lib.attrsets additions: the reference documentation's examples.
let lib = import ../lib; in
[
  (lib.forEach [ 1 2 ] (x: toString x))
  (lib.ifilter0 (i: v: i == 0 || v > 2) [ 1 2 3 ])
  (lib.lists.findFirstIndex (x: x > 3) null [ 0 6 4 ])
  (lib.lists.findFirstIndex (x: x > 9) null [ 0 6 4 ])
  (lib.allUnique [ 3 2 3 4 ])
  (lib.allUnique [ 3 2 4 1 ])
  (lib.replicate 3 "a")
  (lib.groupBy' builtins.add 0 (x: lib.boolToString (x > 2)) [ 5 1 2 3 4 ])
  (lib.sortOn builtins.stringLength [ "aa" "b" "cccc" ])
  (lib.compareLists lib.compare [ ] [ ])
  (lib.compareLists lib.compare [ ] [ "a" ])
  (lib.compareLists lib.compare [ "a" ] [ ])
  (lib.compareLists lib.compare [ "a" "b" ] [ "a" "c" ])
  (lib.cartesianProduct { a = [ 1 2 ]; b = [ 10 20 ]; })
  (lib.mapCartesianProduct ({ a, b }: "${a}-${b}") { a = [ "1" "2" ]; b = [ "3" "4" ]; })
  (lib.lists.hasPrefix [ 1 2 ] [ 1 2 3 4 ])
  (lib.lists.hasPrefix [ 0 1 ] [ 1 2 3 4 ])
  (lib.lists.removePrefix [ 1 2 ] [ 1 2 3 4 ])
  (lib.intersperse "/" [ "usr" "local" "bin" ])
  (lib.crossLists (x: y: "${toString x}${toString y}") [ [ 1 2 ] [ 3 4 ] ])
  (lib.concatMapAttrs (name: value: { ${name} = value; ${name + value} = value; }) { x = "a"; y = "b"; })
  (lib.mapAttrsRecursive (path: value: lib.concatStringsSep "-" (path ++ [ value ]))
    { n = { a = "A"; m = { b = "B"; c = "C"; }; }; d = "D"; })
  (lib.filterAttrsRecursive (n: v: v != null) {
    levelA = {
      example = "hi";
      levelB = { hello = "there"; this-one-is-present = { this-is-excluded = null; }; };
      this-one-is-also-excluded = null;
    };
    also-excluded = null;
  })
  (lib.foldlAttrs (acc: name: value: { sum = acc.sum + value; names = acc.names ++ [ name ]; })
    { sum = 0; names = [ ]; } { foo = 1; bar = 10; })
  (lib.attrVals [ "a" "b" "c" ] { a = 1; b = 2; c = 3; })
  (lib.attrsets.getAttrs [ "a" "b" ] { a = 1; b = 2; c = 3; })
  (lib.mergeAttrsList [ { a = 0; b = 1; } { c = 2; d = 3; } ])
  (lib.matchAttrs { cpu = { }; } { cpu = { bits = 64; }; })
  (lib.zipAttrsWithNames [ "a" ] (name: vs: vs) [ { a = "x"; } { a = "y"; b = "z"; } ])
  (lib.recursiveUpdateUntil (path: l: r: path == [ "foo" ])
    { foo.bar = 1; foo.baz = 2; bar = 3; } { foo.bar = 1; foo.quz = 2; baz = 4; })
  (lib.unionOfDisjoint { a = 1; } { b = 2; })
]
