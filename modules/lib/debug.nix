# Assertions with messages and tracing helpers: nixpkgs' `lib.asserts` and `lib.debug`.
{ lib }:
let
  inherit (builtins) trace deepSeq elem all;
in
{
  assertMsg = pred: msg: pred || throw msg;
  assertOneOf = name: val: xs:
    lib.assertMsg (elem val xs)
      "${name} must be one of ${lib.generators.toPretty { } xs}, but is: ${lib.generators.toPretty { } val}";
  assertEachOneOf = name: vals: xs:
    lib.assertMsg (all (v: elem v xs) vals)
      "each element in ${name} must be one of ${lib.generators.toPretty { } xs}, but is: ${lib.generators.toPretty { } vals}";
  asserts = { inherit (lib) assertMsg assertOneOf assertEachOneOf; };

  inherit trace;
  traceIf = pred: msg: x: if pred then trace msg x else x;
  traceValFn = f: x: trace (f x) x;
  traceVal = x: trace x x;
  traceSeq = x: y: trace (deepSeq x x) y;
  traceValSeqFn = f: v: lib.traceValFn f (deepSeq v v);
  traceValSeq = v: lib.traceValSeqFn (x: x) v;
  # Traces `x` deeply, but lists and sets nested deeper than `depth` show as `[…]` and `{…}`.
  traceSeqN = depth: x: y:
    let
      shown = text: v: { __pretty = _: text; val = v; };
      cut = n: v:
        if n == 0 then
          (if builtins.isList v then shown "[…]" v else if builtins.isAttrs v then shown "{…}" v else v)
        else if builtins.isList v then map (cut (n - 1)) v
        else if builtins.isAttrs v then builtins.mapAttrs (_: cut (n - 1)) v
        else v;
    in trace (lib.generators.toPretty { allowPrettyValues = true; } (cut depth x)) y;
  traceValSeqNFn = f: depth: v: lib.traceSeqN depth (f v) v;
  traceValSeqN = lib.traceValSeqNFn (x: x);
  traceFnSeqN = depth: name: f: v:
    let res = f v; in
    lib.traceSeqN (depth + 1) { fn = name; from = v; to = res; } res;
  # The failing tests of a set: those named `test…` (or listed in its `tests`) whose `expr`
  # differs from `expected`.
  runTests = tests:
    let selected = tests.tests or [ ]; in
    builtins.concatMap (name:
      let test = tests.${name}; in
      if (builtins.substring 0 4 name == "test" || elem name selected)
        && (selected == [ ] || elem name selected)
        && test.expr != test.expected
      then [ { inherit name; inherit (test) expected; result = test.expr; } ]
      else [ ]) (builtins.attrNames tests);
  testAllTrue = expr: { inherit expr; expected = map (_: true) expr; };
  debug = {
    inherit (lib) traceIf traceVal traceValFn traceSeq traceValSeq traceValSeqFn traceSeqN
      traceValSeqN traceValSeqNFn traceFnSeqN runTests testAllTrue;
  };
}
