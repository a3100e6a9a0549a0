# A tiny lib in the style of nixpkgs' lib, written for this corpus.
rec {
  id = x: x;
  const = x: _: x;
  fix = f: let x = f x; in x;
  foldr = op: nul: list:
    let
      len = builtins.length list;
      go = n: if n == len then nul else op (builtins.elemAt list n) (go (n + 1));
    in go 0;
  foldl = op: nul: list: builtins.foldl' op nul list;
  concatStrings = builtins.concatStringsSep "";
  range = first: last:
    if first > last then [ ] else builtins.genList (n: first + n) (last - first + 1);
  reverseList = xs: let l = builtins.length xs; in builtins.genList (n: builtins.elemAt xs (l - n - 1)) l;
  flatten = x: if builtins.isList x then builtins.concatMap flatten x else [ x ];
  optional = cond: elem: if cond then [ elem ] else [ ];
  optionalString = cond: s: if cond then s else "";
  mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (builtins.attrNames attrs);
  filterAttrs = pred: set:
    builtins.listToAttrs (builtins.concatMap
      (name: let v = set.${name}; in if pred name v then [ { inherit name; value = v; } ] else [ ])
      (builtins.attrNames set));
  recursiveUpdate = lhs: rhs:
    lhs // builtins.mapAttrs
      (name: value:
        if builtins.isAttrs value && builtins.isAttrs (lhs.${name} or null)
        then recursiveUpdate lhs.${name} value
        else value)
      rhs;
  unique = builtins.foldl' (acc: e: if builtins.elem e acc then acc else acc ++ [ e ]) [ ];
  last = xs: builtins.elemAt xs (builtins.length xs - 1);
  toUpperAscii = builtins.replaceStrings
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ]
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
}
