# nixpkgs' deprecated `lib.misc` helpers that are about values (not about packages' build
# inputs), kept because older configurations still call them; and the fake hashes.
{ lib }:
let
  inherit (builtins) head tail isAttrs isList isFunction isInt elem;

  misc = {
    # The environment variable `name`, or `default` when it is unset or empty.
    maybeEnv = name: default: let v = builtins.getEnv name; in if v == "" then default else v;
    defaultMergeArg = x: y: if isAttrs y then y else y x;
    defaultMerge = x: y: x // misc.defaultMergeArg x y;
    maybeAttr = name: default: attrs: attrs.${name} or default;
    maybeAttrNullable = misc.maybeAttr;
    # `val` when `cond` holds, else the empty value of its kind (false for booleans).
    ifEnable = cond: val:
      if cond then val
      else if isList val then [ ]
      else if isAttrs val then { }
      else if val == true || val == false then false
      else null;
    # The first occurrence of each element not already in `acc`.
    uniqList = { inputList, acc ? [ ] }:
      let
        go = xs: seen:
          if xs == [ ] then [ ]
          else
            let x = head xs; kept = if elem x seen then [ ] else [ x ]; in
            kept ++ go (tail xs) (kept ++ seen);
      in go inputList acc;
    uniqListExt = { inputList, outputList ? [ ], getter ? (x: x), compare ? (x: y: x == y) }:
      builtins.foldl' (out: x:
        if builtins.any (y: compare (getter y) (getter x)) out then out else out ++ [ x ])
        outputList inputList;
    # `name` with each string of the pairs `[ test string ... ]` whose test holds appended.
    condConcat = name: list: checker:
      if list == [ ] then name
      else
        let rest = tail (tail list); in
        if checker (head list) then misc.condConcat (name + head (tail list)) rest checker
        else misc.condConcat name rest checker;
    # genericClosure's items, newest first, without forcing more than `operator` asks.
    lazyGenericClosure = { startSet, operator }:
      let
        work = todo: done: result:
          if todo == [ ] then result
          else
            let x = head todo; in
            if elem x.key done then work (tail todo) done result
            else work (tail todo ++ operator x) ([ x.key ] ++ done) ([ x ] ++ result);
      in work startSet [ ] [ ];
    mapAttrsFlatten = lib.warn "lib.misc.mapAttrsFlatten is deprecated, please use lib.attrsets.mapAttrsToList instead." lib.mapAttrsToList;
    nvs = name: value: { ${name} = value; };
    setAttr = set: name: v: set // { ${name} = v; };
    setAttrMerge = name: default: attrs: f: misc.setAttr attrs name (f (misc.maybeAttr name default attrs));
    # `set1 // set2`, but names in both get `f value1 value2`.
    mergeAttrsWithFunc = f: set1: set2:
      set2 // set1 // builtins.mapAttrs (n: _: f set1.${n} set2.${n}) (builtins.intersectAttrs set1 set2);
    mergeAttrsConcatenateValues = misc.mergeAttrsWithFunc (a: b: lib.toList a ++ lib.toList b);
    nixType = x:
      if isAttrs x then (if x ? outPath then "derivation" else "attrs")
      else if isFunction x then "function"
      else if isList x then "list"
      else if x == true || x == false then "bool"
      else if x == null then "null"
      else if isInt x then "int"
      else "string";
    # Deprecated: indices from 1.
    imap = lib.imap1;
    # Hashes no content has, for a fixed-output derivation's first build (which then fails
    # naming the real one).
    fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    fakeSha256 = lib.strings.replicate 64 "0";
    fakeSha512 = lib.strings.replicate 128 "0";
  };
in
misc // { inherit misc; }
