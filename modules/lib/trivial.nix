{ lib }:
{
  id = x: x;
  const = x: _: x;
  flip = f: a: b: f b a;
  pipe = builtins.foldl' (x: f: f x);
  fix = f: let x = f x; in x;
  max = a: b: if a > b then a else b;
  min = a: b: if a < b then a else b;
  mod = a: b: a - (a / b) * b;
  boolToString = b: if b then "true" else "false";
  isFunction = builtins.isFunction;
  functionArgs = f: if f ? __functor then f.__functionArgs or (builtins.functionArgs (f.__functor f)) else builtins.functionArgs f;
  setFunctionArgs = f: args: { __functor = self: f; __functionArgs = args; };
  warn = msg: builtins.trace "warning: ${msg}";
  warnIf = cond: msg: if cond then lib.warn msg else x: x;
  throwIf = cond: msg: if cond then throw msg else x: x;
  throwIfNot = cond: msg: if cond then x: x else throw msg;
  inherit (builtins) seq deepSeq;
  version = "strata";
  trivial = { inherit (lib) id const; };
}
