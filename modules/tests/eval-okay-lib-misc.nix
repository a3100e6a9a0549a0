# lib.misc: the deprecated helpers about values (the examples of their documentation
# comments) and the fake hashes.
let lib = import ../lib; in
[ (lib.ifEnable false [ 1 ]) (lib.ifEnable false { a = 1; }) (lib.ifEnable false true) (lib.ifEnable false "x") (lib.ifEnable true "x")
  (lib.uniqList { inputList = [ 1 2 1 3 2 ]; }) (lib.uniqList { inputList = [ 1 2 3 ]; acc = [ 2 ]; })
  (lib.uniqListExt { inputList = [ { a = 1; } { a = 1; b = 2; } { a = 2; } ]; getter = x: x.a; })
  (lib.condConcat "a" [ true "b" false "c" true "d" ] (x: x))
  (map (x: x.key) (lib.lazyGenericClosure { startSet = [ { key = 5; } ]; operator = item: [ { key = if (item.key / 2) * 2 == item.key then item.key / 2 else 3 * item.key + 1; } ]; }))
  (lib.nvs "a" 1) (lib.setAttr { a = 1; } "b" 2) (lib.setAttrMerge "a" [ ] { a = [ 2 ]; } (x: x ++ [ 3 ])) (lib.setAttrMerge "a" [ ] { } (x: x ++ [ 3 ]))
  (lib.mergeAttrsWithFunc (a: b: a + b) { a = 1; b = 2; } { a = 10; c = 3; })
  (lib.mergeAttrsConcatenateValues { a = 7; } { a = [ 2 3 ]; })
  (map lib.nixType [ { } { outPath = "x"; } (x: x) [ ] true null 1 "s" ])
  (lib.imap (i: v: "${v}-${toString i}") [ "a" "b" ])
  (lib.maybeAttr "a" 0 { a = 1; }) (lib.maybeAttr "b" 0 { a = 1; })
  (builtins.stringLength lib.fakeSha256) (builtins.stringLength lib.fakeSha512)
]
