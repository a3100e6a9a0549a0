{ lib }:
let
  inherit (builtins) concatStringsSep stringLength substring replaceStrings;
in
{
  inherit (builtins) concatStringsSep stringLength substring replaceStrings toString match split isString;
  concatStrings = concatStringsSep "";
  concatMapStrings = f: list: concatStringsSep "" (map f list);
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  concatImapStringsSep = sep: f: list: concatStringsSep sep (lib.imap1 f list);
  concatLines = list: concatStringsSep "" (map (l: "${l}\n") list);
  optionalString = cond: s: if cond then s else "";
  hasPrefix = pre: s: substring 0 (stringLength pre) s == pre;
  hasSuffix = suf: s:
    let ls = stringLength s; lf = stringLength suf; in ls >= lf && substring (ls - lf) lf s == suf;
  hasInfix = infix: s: builtins.match ".*${lib.escapeRegex infix}.*" s != null;
  removePrefix = pre: s: if lib.hasPrefix pre s then substring (stringLength pre) (stringLength s) s else s;
  removeSuffix = suf: s:
    if lib.hasSuffix suf s then substring 0 (stringLength s - stringLength suf) s else s;
  escapeRegex = replaceStrings
    [ "\\" "." "[" "]" "{" "}" "(" ")" "*" "+" "?" "^" "$" "|" ]
    [ "\\\\" "\\." "\\[" "\\]" "\\{" "\\}" "\\(" "\\)" "\\*" "\\+" "\\?" "\\^" "\\$" "\\|" ];
  splitString = sep: s: builtins.filter builtins.isString (builtins.split (lib.escapeRegex sep) s);
  stringToCharacters = s: builtins.genList (i: substring i 1 s) (stringLength s);
  toUpper = replaceStrings lib.lowerChars lib.upperChars;
  toLower = replaceStrings lib.upperChars lib.lowerChars;
  lowerChars = lib.stringToCharacters "abcdefghijklmnopqrstuvwxyz";
  upperChars = lib.stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  escapeShellArg = arg: "'${replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
  escapeShellArgs = list: concatStringsSep " " (map lib.escapeShellArg list);
  fixedWidthString = width: filler: s:
    let n = stringLength s; in if n >= width then s else lib.fixedWidthString width filler (filler + s);
  fixedWidthNumber = width: n: lib.fixedWidthString width "0" (toString n);
  showOption = path: concatStringsSep "." path;
  strings = { inherit (lib) concatStrings optionalString; };
}
