{ lib }:
let
  inherit (builtins) length elemAt head tail filter concatLists genList foldl';
in
{
  inherit (builtins) head tail length elem elemAt filter map concatLists genList sort partition groupBy all any;
  foldl = op: nul: list: foldl' op nul list;
  foldl' = foldl';
  foldr = op: nul: list:
    let n = length list; go = i: if i == n then nul else op (elemAt list i) (go (i + 1)); in go 0;
  optional = cond: x: if cond then [ x ] else [ ];
  optionals = cond: xs: if cond then xs else [ ];
  toList = x: if builtins.isList x then x else [ x ];
  singleton = x: [ x ];
  concatMap = builtins.concatMap;
  flatten = x: if builtins.isList x then builtins.concatMap (y: lib.flatten y) x else [ x ];
  remove = e: filter (x: x != e);
  findFirst = pred: default: list:
    let found = filter pred list; in if found == [ ] then default else head found;
  findSingle = pred: default: multiple: list:
    let found = filter pred list; n = length found;
    in if n == 0 then default else if n == 1 then head found else multiple;
  count = pred: foldl' (c: x: if pred x then c + 1 else c) 0;
  range = first: last: if first > last then [ ] else genList (n: first + n) (last - first + 1);
  # The first occurrence of each element, in order (strings by a set lookup, others by
  # comparison).
  unique = list:
    if builtins.all builtins.isString list then
      let
        # listToAttrs keeps the first of equal names: the index of each string's first use.
        first = builtins.listToAttrs (lib.imap0 (i: e: { name = e; value = i; }) list);
      in lib.concatLists (lib.imap0 (i: e: if first.${e} == i then [ e ] else [ ]) list)
    else foldl' (acc: e: if builtins.elem e acc then acc else acc ++ [ e ]) [ ] list;
  naturalSort = builtins.sort (a: b: builtins.compareVersions a b < 0);
  reverseList = xs: let n = length xs; in genList (i: elemAt xs (n - i - 1)) n;
  last = list: elemAt list (length list - 1);
  init = list: genList (i: elemAt list i) (length list - 1);
  take = n: list: genList (i: elemAt list i) (lib.min n (length list));
  drop = n: list: let l = length list; in if n >= l then [ ] else genList (i: elemAt list (i + n)) (l - n);
  sublist = start: count: list: lib.take count (lib.drop start list);
  imap0 = f: list: genList (i: f i (elemAt list i)) (length list);
  imap1 = f: list: genList (i: f (i + 1) (elemAt list i)) (length list);
  zipListsWith = f: a: b: genList (i: f (elemAt a i) (elemAt b i)) (lib.min (length a) (length b));
  zipLists = lib.zipListsWith (fst: snd: { inherit fst snd; });
  listToAttrs = builtins.listToAttrs;
  subtractLists = e: filter (x: !(builtins.elem x e));
  intersectLists = e: filter (x: builtins.elem x e);
  mutuallyExclusive = a: b: length a == 0 || !(builtins.any (x: builtins.elem x a) b);
  isList = builtins.isList;
  forEach = xs: f: map f xs;
  fold = lib.foldr;
  ifilter0 = ipred: input:
    builtins.concatLists (lib.imap0 (i: x: if ipred i x then [ x ] else [ ]) input);
  findFirstIndex = pred: default: list:
    let n = length list; go = i: if i == n then default else if pred (elemAt list i) then i else go (i + 1); in go 0;
  allUnique = list: length (lib.unique list) == length list;
  replicate = n: x: genList (_: x) n;
  groupBy' = op: nul: pred: lst:
    builtins.mapAttrs (name: foldl' op nul) (builtins.groupBy pred lst);
  sortOn = f: list:
    map (p: p.x) (builtins.sort (a: b: a.k < b.k) (map (x: { inherit x; k = f x; }) list));
  compareLists = cmp: a: b:
    if a == [ ] then (if b == [ ] then 0 else -1)
    else if b == [ ] then 1
    else let r = cmp (head a) (head b); in if r == 0 then lib.compareLists cmp (tail a) (tail b) else r;
  cartesianProduct = attrsOfLists:
    builtins.foldl' (acc: name: builtins.concatMap (set: map (v: set // { ${name} = v; }) attrsOfLists.${name}) acc)
      [ { } ] (builtins.attrNames attrsOfLists);
  mapCartesianProduct = f: attrsOfLists: map f (lib.cartesianProduct attrsOfLists);
  crossLists = f: foldl' (fs: args: builtins.concatMap (f: map f args) fs) [ f ];
  dropEnd = n: xs: lib.take (lib.max 0 (length xs - n)) xs;
  # Depth-first from the head of `list`: follows elements that must come before the current
  # one until it reaches one with none (`minimal`), or, with `stopOnCycles`, one already on
  # the path (`cycle`, with the path elements it `loops` back to).
  listDfs = stopOnCycles: before: list:
    let
      walk = current: path: rest:
        let
          back = filter (x: before x current) path;
          ahead = builtins.partition (x: before x current) rest;
        in
        if stopOnCycles && back != [ ] then { cycle = current; loops = back; visited = path; inherit rest; }
        else if ahead.right == [ ] then { minimal = current; visited = path; inherit rest; }
        else walk (head ahead.right) ([ current ] ++ path) (tail ahead.right ++ ahead.wrong);
    in walk (head list) [ ] (tail list);
  # A topological order of `list` by the partial order `before`, or the cycle that prevents one.
  toposort = before: list:
    if length list < 2 then { result = list; }
    else
      let
        found = lib.listDfs true before list;
        sortedRest = lib.toposort before (found.visited ++ found.rest);
      in
      if found ? cycle then
        { cycle = lib.reverseList ([ found.cycle ] ++ found.visited); inherit (found) loops; }
      else if sortedRest ? cycle then sortedRest
      else { result = [ found.minimal ] ++ sortedRest.result; };
  uniqueStrings = list: builtins.attrNames (builtins.groupBy (x: x) list);
  lists = {
    takeEnd = n: xs: lib.drop (lib.max 0 (length xs - n)) xs;
    commonPrefix = list1: list2:
      let
        n = lib.min (length list1) (length list2);
        go = i: if i < n && elemAt list1 i == elemAt list2 i then go (i + 1) else i;
      in lib.take (go 0) list1;

    inherit (lib) optional optionals foldr foldl forEach ifilter0 findFirstIndex findFirst allUnique
      replicate sortOn compareLists reverseList last init take drop sublist unique flatten remove
      count range imap0 imap1 zipListsWith zipLists subtractLists intersectLists mutuallyExclusive
      toList singleton naturalSort groupBy' crossLists foldl' fold cartesianProduct findSingle
      mapCartesianProduct isList dropEnd listDfs toposort uniqueStrings;
    # Whether `list1` is a prefix of `list2`.
    hasPrefix = list1: list2: lib.take (length list1) list2 == list1;
    removePrefix = list1: list2:
      if lib.lists.hasPrefix list1 list2 then lib.drop (length list1) list2
      else throw "lib.lists.removePrefix: First argument is not a list prefix of the second argument";
    inherit (builtins) head tail length elem elemAt filter concatLists concatMap genList sort partition groupBy all any;
  };
}
