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
  traceFnSeqN = depth: name: f: v:
    let res = f v; in
    trace (lib.generators.toPretty { multiline = false; } { fn = name; from = v; to = res; }) res;
  debug = { inherit (lib) traceIf traceVal traceValFn traceSeq traceValSeq traceValSeqFn; };
}
