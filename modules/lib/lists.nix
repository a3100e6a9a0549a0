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
  lists = { inherit (lib) optional optionals foldr; };
}
