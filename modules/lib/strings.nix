{ lib }:
let
  inherit (builtins) concatStringsSep stringLength substring replaceStrings;
  # The code of each ASCII character Nix strings can spell (tab, newline, return, and the
  # printable ones).
  asciiTable =
    let printable = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"; in
    builtins.listToAttrs (lib.imap0 (i: c: { name = c; value = i + 32; }) (lib.stringToCharacters printable))
    // { "\t" = 9; "\n" = 10; "\r" = 13; };
in
{
  inherit (builtins) concatStringsSep stringLength substring replaceStrings toString match split isString;
  join = concatStringsSep;
  concatStrings = concatStringsSep "";
  concatMapStrings = f: list: concatStringsSep "" (map f list);
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  concatImapStringsSep = sep: f: list: concatStringsSep sep (lib.imap1 f list);
  concatLines = list: concatStringsSep "" (map (l: "${l}\n") list);
  optionalString = cond: s: if cond then s else "";
  hasPrefix = pre: s: substring 0 (stringLength pre) s == pre;
  hasSuffix = suf: s:
    let ls = stringLength s; lf = stringLength suf; in ls >= lf && substring (ls - lf) lf s == suf;
  # Anything that interpolates (paths, derivations) is searched as its string.
  hasInfix = infix: content: builtins.match ".*${lib.escapeRegex infix}.*" "${content}" != null;
  removePrefix = pre: s: if lib.hasPrefix pre s then substring (stringLength pre) (stringLength s) s else s;
  removeSuffix = suf: s:
    if lib.hasSuffix suf s then substring 0 (stringLength s - stringLength suf) s else s;
  # The characters special outside brackets in an extended regular expression (`]` and `}`
  # alone are literal), as nixpkgs' escapes them.
  escapeRegex = replaceStrings
    [ "\\" "." "[" "{" "(" ")" "*" "+" "?" "^" "$" "|" ]
    [ "\\\\" "\\." "\\[" "\\{" "\\(" "\\)" "\\*" "\\+" "\\?" "\\^" "\\$" "\\|" ];
  # Anything that interpolates is split as its string; the parts keep its context.
  splitString = sep: s:
    map (lib.addContextFrom s)
      (builtins.filter builtins.isString (builtins.split (lib.escapeRegex (toString sep)) (toString s)));
  stringToCharacters = s: builtins.genList (i: substring i 1 s) (stringLength s);
  toUpper = replaceStrings lib.lowerChars lib.upperChars;
  toLower = replaceStrings lib.upperChars lib.lowerChars;
  lowerChars = lib.stringToCharacters "abcdefghijklmnopqrstuvwxyz";
  upperChars = lib.stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  # Words made only of characters no shell treats specially stay as they are.
  escapeShellArg = arg:
    let s = toString arg; in
    if builtins.match "[[:alnum:],._+:@%/-]+" s != null then s
    else "'${replaceStrings [ "'" ] [ "'\\''" ] s}'";
  escapeShellArgs = list: concatStringsSep " " (map lib.escapeShellArg list);
  fixedWidthString = width: filler: s:
    let n = stringLength s; in if n >= width then s else lib.fixedWidthString width filler (filler + s);
  fixedWidthNumber = width: n: lib.fixedWidthString width "0" (toString n);
  escape = list: replaceStrings list (map (c: "\\${c}") list);
  escapeNixString = s: lib.escape [ "$" ] (builtins.toJSON s);
  escapeNixIdentifier = s:
    if builtins.match "[a-zA-Z_][a-zA-Z0-9_'-]*" s != null then s else lib.escapeNixString s;
  escapeXML = replaceStrings [ "\"" "'" "<" ">" "&" ] [ "&quot;" "&apos;" "&lt;" "&gt;" "&amp;" ];
  isStringLike = x: builtins.isString x || builtins.isPath x || x ? outPath || x ? __toString;
  isValidPosixName = name: builtins.match "[a-zA-Z_][a-zA-Z0-9_]*" name != null;
  toShellVar = name: value:
    lib.throwIfNot (lib.isValidPosixName name) "toShellVar: ${name} is not a valid shell variable name" (
      if builtins.isAttrs value && !(lib.isStringLike value) then
        "declare -A ${name}=(${concatStringsSep " " (lib.mapAttrsToList (n: v: "[${lib.escapeShellArg n}]=${lib.escapeShellArg v}") value)})"
      else if builtins.isList value then
        "declare -a ${name}=(${lib.escapeShellArgs value})"
      else "${name}=${lib.escapeShellArg value}");
  toShellVars = vars: concatStringsSep "\n" (lib.mapAttrsToList lib.toShellVar vars);
  fileContents = file: lib.removeSuffix "\n" (builtins.readFile file);
  floatToString = float:
    let result = toString float; in
    lib.warnIf (float != builtins.fromJSON result)
      "Imprecise conversion from float to string ${result}" result;
  # A decimal integer, with surrounding white space and leading zeros allowed.
  toIntBase10 = str:
    let m = builtins.match "[[:space:]]*(-?)0*([0-9]+)[[:space:]]*" str; in
    if m == null then throw "toIntBase10: Could not convert ${lib.escapeNixString str} to int."
    else
      let n = builtins.fromJSON (builtins.elemAt m 1); in
      if !(builtins.isInt n) then throw "toIntBase10: Could not convert ${lib.escapeNixString str} to int."
      else if builtins.head m == "-" then 0 - n else n;
  toInt = str:
    let m = builtins.match "[[:space:]]*(-?)0*([0-9]+)[[:space:]]*" str; in
    if m == null then throw "toInt: Could not convert ${lib.escapeNixString str} to int."
    else lib.toIntBase10 str;
  trim = lib.trimWith { start = true; end = true; };
  trimWith = { start ? false, end ? false }: s:
    let
      s1 = if start then builtins.head (builtins.match "[ \t\r\n]*(.*)" s) else s;
      kept = builtins.head (builtins.match "(.*[^ \t\r\n])?[ \t\r\n]*" s1);
    in if end then (if kept == null then "" else kept) else s1;
  toSentenceCase = s:
    if s == "" then s
    else lib.toUpper (substring 0 1 s) + lib.toLower (substring 1 (stringLength s) s);
  enableFeature = flag: feature: "--${if flag then "enable" else "disable"}-${feature}";
  enableFeatureAs = flag: feature: value: if flag then "--enable-${feature}=${value}" else "--disable-${feature}";
  withFeature = flag: feature: "--${if flag then "with" else "without"}-${feature}";
  withFeatureAs = flag: feature: value: if flag then "--with-${feature}=${value}" else "--without-${feature}";
  cmakeOptionType = type: feature: value: "-D${feature}:${lib.toUpper type}=${value}";
  cmakeBool = condition: flag: lib.cmakeOptionType "bool" condition (lib.toUpper (lib.boolToString flag));
  cmakeFeature = feature: value: lib.cmakeOptionType "string" feature value;
  mesonOption = feature: value: "-D${feature}=${value}";
  mesonBool = condition: flag: lib.mesonOption condition (lib.boolToString flag);
  mesonEnable = feature: flag: lib.mesonOption feature (if flag then "enabled" else "disabled");
  commonPrefixLength = a: b:
    let
      m = lib.min (stringLength a) (stringLength b);
      go = i: if i < m && substring i 1 a == substring i 1 b then go (i + 1) else i;
    in go 0;
  concatImapStrings = f: list: concatStringsSep "" (lib.imap1 f list);
  intersperse = separator: list:
    if list == [ ] || builtins.length list == 1 then list
    else builtins.tail (builtins.concatMap (x: [ separator x ]) list);
  stringAsChars = f: s: lib.concatMapStrings f (lib.stringToCharacters s);
  normalizePath = s:
    builtins.foldl' (x: y: if y == "/" && lib.hasSuffix "/" x then x else x + y) "" (lib.stringToCharacters s);
  charToInt = c:
    asciiTable.${c} or (throw "lib.strings.charToInt: ${builtins.toJSON c} is not a single ASCII character");
  escapeC = list: replaceStrings list
    (map (c: "\\x" + lib.toLower (lib.fixedWidthString 2 "0" (lib.toHexString (lib.charToInt c)))) list);
  # Percent-encodes every ASCII character outside RFC 3986's unreserved set.
  escapeURL =
    let
      reserved = builtins.filter (c: builtins.match "[A-Za-z0-9._~-]" c == null) (builtins.attrNames asciiTable);
    in replaceStrings reserved
      (map (c: "%" + lib.fixedWidthString 2 "0" (lib.toHexString asciiTable.${c})) reserved);
  concatMapAttrsStringSep = sep: f: attrs: concatStringsSep sep (lib.mapAttrsToList f attrs);
  replaceString = from: to: replaceStrings [ from ] [ to ];
  replaceChars = lib.warn "lib.replaceChars is a deprecated alias of lib.replaceStrings." replaceStrings;
  addContextFrom = src: target: substring 0 0 src + target;
  # Splits before every character where `predicate previous current` holds (previous is ""
  # for the first), keeping that character at the start of the next part or dropping it.
  splitStringBy = predicate: keepSplit: str:
    let
      len = stringLength str;
      at = i: substring i 1 str;
      cuts = builtins.filter (i: predicate (if i == 0 then "" else at (i - 1)) (at i)) (builtins.genList (i: i) len);
      step = acc: i: {
        parts = acc.parts ++ [ (substring acc.start (i - acc.start) str) ];
        start = if keepSplit then i else i + 1;
      };
      done = builtins.foldl' step { parts = [ ]; start = 0; } cuts;
    in done.parts ++ [ (substring done.start (len - done.start) str) ];
  toCamelCase = str:
    lib.throwIfNot (builtins.isString str) "toCamelCase does only accepts string values, but got ${builtins.typeOf str}" (
      let
        words = lib.splitStringBy (prev: curr: builtins.elem curr [ "-" "_" " " ]) false str;
        humps = builtins.concatMap
          (lib.splitStringBy (prev: curr: builtins.match "[a-z]" prev != null && builtins.match "[A-Z]" curr != null) true)
          words;
      in
      if humps == [ ] then ""
      else lib.toLower (builtins.head humps) + lib.concatMapStrings lib.toSentenceCase (builtins.tail humps));
  nameFromURL = url: sep:
    let
      file = lib.last (lib.splitString "/" url);
      name = builtins.head (lib.splitString sep file);
    in assert name != file; name;
  isStorePath = x:
    if lib.isStringLike x then
      let s = toString x; in
      substring 0 1 s == "/" && dirOf s == builtins.storeDir
    else false;
  isConvertibleWithToString = x:
    lib.isStringLike x || builtins.elem (builtins.typeOf x) [ "null" "int" "float" "bool" ]
    || (builtins.isList x && builtins.all lib.isConvertibleWithToString x);
  isCoercibleToString = lib.warn
    "lib.strings.isCoercibleToString is deprecated in favor of either isStringLike or isConvertibleWithToString. Only use the latter if it needs to return true for null, numbers, booleans and list of similarly coercibles."
    lib.isConvertibleWithToString;
  readPathsFromFile = lib.warn "lib.readPathsFromFile is deprecated, use a list instead."
    (rootPath: file:
      map (p: rootPath + "/${p}")
        (builtins.filter (l: l != "" && !(lib.hasPrefix "#" l)) (lib.splitString "\n" (builtins.readFile file))));
  commonSuffixLength = a: b:
    let
      la = stringLength a;
      lb = stringLength b;
      m = lib.min la lb;
      go = i: if i < m && substring (la - i - 1) 1 a == substring (lb - i - 1) 1 b then go (i + 1) else i;
    in go 0;
  levenshteinAtMost = k: a: b: lib.levenshtein a b <= k;
  # A derivation name made from any string: leading dots dropped, every run of characters
  # a store path name cannot hold becomes `-`, at most 207 characters (the end kept).
  sanitizeDerivationName = string:
    let
      s = builtins.unsafeDiscardStringContext string;
      undotted = builtins.head (builtins.match "[.]*(.*)" s);
      dashed = lib.concatMapStrings (p: if builtins.isList p then "-" else p)
        (builtins.split "[^[:alnum:]+._?=-]+" undotted);
      n = stringLength dashed;
      kept = if n > 207 then substring (n - 207) 207 dashed else dashed;
    in if kept == "" then "unknown" else kept;
  strings = {

    inherit (lib) concatStrings optionalString concatMapStrings concatMapStringsSep
      concatImapStringsSep concatLines hasPrefix hasSuffix hasInfix removePrefix removeSuffix
      escapeRegex splitString stringToCharacters toUpper toLower escapeShellArg escapeShellArgs
      fixedWidthString fixedWidthNumber escape escapeNixString escapeNixIdentifier escapeXML
      isStringLike isValidPosixName toShellVar toShellVars fileContents floatToString toInt
      toIntBase10 trim trimWith toSentenceCase enableFeature enableFeatureAs withFeature
      withFeatureAs cmakeOptionType cmakeBool cmakeFeature mesonOption mesonBool mesonEnable
      commonPrefixLength concatImapStrings stringAsChars normalizePath concatStringsSep
      stringLength substring replaceStrings toString match split isString intersperse lowerChars
      upperChars makeSearchPath makeSearchPathOutput makeBinPath makeLibraryPath makeIncludePath
      versionOlder versionAtLeast getName getVersion charToInt escapeC escapeURL
      concatMapAttrsStringSep replaceString replaceChars addContextFrom splitStringBy toCamelCase
      nameFromURL isStorePath isConvertibleWithToString isCoercibleToString readPathsFromFile
      commonSuffixLength levenshtein levenshteinAtMost sanitizeDerivationName join;
    inherit (builtins) compareVersions elem elemAt filter fromJSON head isInt isList isAttrs
      isPath parseDrvName readFile storeDir tail toJSON typeOf unsafeDiscardStringContext genList;
    replicate = n: s: concatStringsSep "" (builtins.genList (_: s) n);
  };
}
