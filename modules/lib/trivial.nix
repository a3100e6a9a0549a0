{ lib }:
let
  # strata's option set follows NixOS 24.11 (`system.stateVersion`'s default), so that is
  # the release `lib` answers for (`lib.versionAtLeast lib.version "23.05"` holds).
  release = "24.11";
  codeName = "Vicuña";
  versionSuffix = "";
  oldestSupportedRelease = 2411;
in
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
  version = release + versionSuffix;
  oldestSupportedReleaseIsAtLeast = r: r <= oldestSupportedRelease;
  isInOldestRelease = lib.warnIf (lib.oldestSupportedReleaseIsAtLeast 2411)
    "lib.isInOldestRelease is deprecated. Use lib.oldestSupportedReleaseIsAtLeast instead."
    lib.oldestSupportedReleaseIsAtLeast;
  nixpkgsVersion = lib.warn "lib.nixpkgsVersion is a deprecated alias of lib.version." lib.version;
  inNixShell = builtins.getEnv "IN_NIX_SHELL" != "";
  inPureEvalMode = !(builtins ? currentSystem);
  defaultTo = default: maybeValue: if maybeValue != null then maybeValue else default;
  mapNullable = f: a: if a == null then a else f a;
  warnIfNot = cond: msg: if cond then x: x else lib.warn msg;
  inherit (builtins) add sub lessThan isBool isInt isFloat isPath genericClosure addErrorContext;
  mergeAttrs = x: y: x // y;
  concat = x: y: x ++ y;
  "or" = x: y: x || y;
  "and" = x: y: x && y;
  xor = x: y: (!x) != (!y);
  inherit (builtins) bitAnd bitOr bitXor pathExists readFile;
  bitNot = builtins.sub (-1);
  boolToYesNo = b: if b then "yes" else "no";
  compare = a: b: if a < b then -1 else if a > b then 1 else 0;
  splitByAndCompare = p: yes: no: a: b:
    if p a then (if p b then yes a b else -1) else if p b then 1 else no a b;
  importJSON = path: builtins.fromJSON (builtins.readFile path);
  importTOML = path: builtins.fromTOML (builtins.readFile path);
  info = msg: builtins.trace "INFO: ${msg}";
  showWarnings = warnings: res: lib.foldr (w: x: lib.warn w x) res warnings;
  checkListOfEnum = msg: valid: given:
    let unexpected = lib.subtractLists valid given; in
    lib.throwIfNot (unexpected == [ ])
      "${msg}: ${builtins.concatStringsSep ", " (map builtins.toString unexpected)} unexpected; valid ones: ${builtins.concatStringsSep ", " (map builtins.toString valid)}";
  mirrorFunctionArgs = f: let fArgs = lib.functionArgs f; in g: lib.setFunctionArgs g fArgs;
  toFunction = v: if lib.isFunction v then v else _: v;
  # The digits of `i` in base `base`, most significant first.
  toBaseDigits = base: i:
    let
      go = i: if i < base then [ i ] else go (i / base) ++ [ (lib.mod i base) ];
    in
    assert (lib.assertMsg (base >= 2) "base must be at least 2");
    assert (lib.assertMsg (i >= 0) "cannot convert negative numbers to base ${toString base}");
    go i;
  toHexString = i:
    builtins.concatStringsSep "" (map (d: builtins.elemAt [ "0" "1" "2" "3" "4" "5" "6" "7" "8" "9" "A" "B" "C" "D" "E" "F" ] d) (lib.toBaseDigits 16 i));
  fromHexString = s:
    let
      digits = lib.stringToCharacters (lib.toLower (lib.removePrefix "0x" (lib.toLower s)));
      value = c: let i = lib.lists.findFirstIndex (x: x == c) null (lib.stringToCharacters "0123456789abcdef"); in
        if i == null then throw "fromHexString: ${builtins.toJSON s} is not a hexadecimal number" else i;
    in builtins.foldl' (acc: c: acc * 16 + value c) 0 digits;
  trivial = {
    inherit (lib) id const flip pipe max min mod boolToString isFunction functionArgs
      setFunctionArgs warn warnIf warnIfNot throwIf throwIfNot seq deepSeq version
      oldestSupportedReleaseIsAtLeast isInOldestRelease inNixShell inPureEvalMode defaultTo mapNullable
      mergeAttrs concat "or" "and" xor bitAnd bitOr bitXor bitNot pathExists readFile
      boolToYesNo compare splitByAndCompare importJSON importTOML info showWarnings
      checkListOfEnum mirrorFunctionArgs toFunction toBaseDigits toHexString fromHexString
      isFloat isBool isInt;
    inherit release codeName versionSuffix oldestSupportedRelease;
    # strata's lib is no git checkout of nixpkgs: there is no revision to read.
    revisionWithDefault = default: default;
  };
}
