# Generators: Nix values written as the text of configuration file formats (key-value files,
# INI, JSON, YAML) and as readable Nix (`toPretty`), with nixpkgs' `lib.generators` behaviour.
{ lib }:
let
  inherit (builtins) isInt isFloat isString isBool isList isAttrs isFunction isPath
    concatStringsSep attrNames length typeOf;

  escapeChars = chars: builtins.replaceStrings chars (map (c: "\\${c}") chars);

  # A scalar as the right-hand side of `key=value`; anything structured is refused.
  mkValueStringDefault = { }: v:
    let refuse = what: abort "generators.mkValueStringDefault: ${what} not supported: ${toPretty { } v}"; in
    if isInt v then toString v
    else if lib.isDerivation v then toString v
    else if isString v then v
    else if v == true then "true"
    else if v == false then "false"
    else if v == null then "null"
    else if isList v then refuse "lists"
    else if isAttrs v then refuse "attrsets"
    else if isFunction v then refuse "functions"
    else if isFloat v then lib.floatToString v
    else refuse "this value is";

  mkKeyValueDefault = { mkValueString ? mkValueStringDefault { } }: sep: k: v:
    "${escapeChars [ sep ] k}${sep}${mkValueString v}";

  toKeyValue = { mkKeyValue ? mkKeyValueDefault { } "=", listsAsDuplicateKeys ? false, indent ? "" }: attrs:
    let
      line = k: v: "${indent}${mkKeyValue k v}\n";
      lines = k: v: if listsAsDuplicateKeys && isList v then map (line k) v else [ (line k v) ];
    in lib.concatStrings (builtins.concatMap (k: lines k attrs.${k}) (attrNames attrs));

  toINI = { mkSectionName ? (name: escapeChars [ "[" "]" ] name), mkKeyValue ? mkKeyValueDefault { } "=", listsAsDuplicateKeys ? false }: sections:
    concatStringsSep "\n" (map (name:
      "[${mkSectionName name}]\n" + toKeyValue { inherit mkKeyValue listsAsDuplicateKeys; } sections.${name})
      (attrNames sections));

  toINIWithGlobalSection = { mkSectionName ? (name: escapeChars [ "[" "]" ] name), mkKeyValue ? mkKeyValueDefault { } "=", listsAsDuplicateKeys ? false }:
    { globalSection, sections ? { } }:
    (if globalSection == { } then "" else toKeyValue { inherit mkKeyValue listsAsDuplicateKeys; } globalSection + "\n")
    + toINI { inherit mkSectionName mkKeyValue listsAsDuplicateKeys; } sections;

  # Git's flavour: a nested set is a subsection (`[url "ssh://host/"]`), every key is indented
  # by a tab, strings are quoted, and a list repeats its key.
  toGitINI = attrs:
    let
      leaves = path: v:
        if isAttrs v && !(lib.isDerivation v)
        then builtins.concatMap (n: leaves (path ++ [ n ]) v.${n}) (attrNames v)
        else [ { inherit path; value = v; } ];
      # { "section.sub" = { key = value; }; }, as toINI takes it.
      grouped = builtins.zipAttrsWith (n: vs: builtins.foldl' (a: b: a // b) { } vs)
        (map (l: {
          ${concatStringsSep "." (lib.init l.path)} = { ${lib.last l.path} = l.value; };
        }) (leaves [ ] attrs));
      mkSectionName = name:
        let parts = lib.splitString "." name; in
        if lib.hasInfix "\"" name || length parts == 1 then name
        else ''${builtins.head parts} "${concatStringsSep "." (builtins.tail parts)}"'';
      quote = v:
        if isString v
        then "\"" + builtins.replaceStrings [ "\n" "\t" "\"" "\\" ] [ "\\n" "\\t" "\\\"" "\\\\" ] v + "\""
        else mkValueStringDefault { } v;
      mkKeyValue = k: v:
        concatStringsSep "\n" (map (x: "\t" + mkKeyValueDefault { mkValueString = quote; } " = " k x) (lib.toList v));
    in toINI { inherit mkSectionName mkKeyValue; } grouped;

  toJSON = { }: builtins.toJSON;
  # JSON is a subset of YAML 1.2.
  toYAML = { }: builtins.toJSON;

  # A readable Nix expression for a value; `multiline` puts one element or attribute per line.
  toPretty = { allowPrettyValues ? false, multiline ? true, indent ? "" }:
    let
      go = indent: v:
        let
          introSpace = if multiline then "\n${indent}  " else " ";
          outroSpace = if multiline then "\n${indent}" else " ";
        in
        if isInt v || isFloat v then toString v
        else if isString v then
          let lines = lib.splitString "\n" v;
              escapeSingle = s: lib.escapeNixString s;
              escapeMulti = s: builtins.replaceStrings [ "\${" "''" ] [ "''\${" "'''" ] s;
          in if multiline && length lines > 1
             then "''" + introSpace + concatStringsSep introSpace (map escapeMulti lines) + outroSpace + "''"
             else escapeSingle v
        else if v == true then "true"
        else if v == false then "false"
        else if v == null then "null"
        else if isPath v then toString v
        else if isList v then
          if v == [ ] then "[ ]"
          else "[" + introSpace + concatStringsSep introSpace (map (go (indent + "  ")) v) + outroSpace + "]"
        else if isFunction v then
          let args = lib.functionArgs v;
              shown = map (n: if args.${n} then "${n} ? <default>" else n) (attrNames args);
          in if args == { } then "<function>"
             else "<function, args: {${concatStringsSep ", " shown}}>"
        else if isAttrs v then
          if allowPrettyValues && v ? __pretty && v ? val then v.__pretty v.val
          else if v == { } then "{ }"
          else if lib.isDerivation v then "<derivation ${v.name or "???"}>"
          else "{" + introSpace
            + concatStringsSep introSpace (map (n: "${lib.escapeNixIdentifier n} = ${go (indent + "  ") v.${n}};") (attrNames v))
            + outroSpace + "}"
        else abort "generators.toPretty: should never happen (v = ${typeOf v})";
    in go indent;
in
{
  generators = {
    inherit mkValueStringDefault mkKeyValueDefault toKeyValue toINI toINIWithGlobalSection
      toGitINI toJSON toYAML toPretty;
  };
}
