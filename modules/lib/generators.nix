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
        if isInt v then toString v
        # toString drops a float's precision; JSON keeps it.
        else if isFloat v then builtins.toJSON v
        else if isString v then
          let
            lines = builtins.filter isString (builtins.split "\n" v);
            escapeSingle = escapeChars [ "\\" "\"" "\${" ];
            escapeMulti = builtins.replaceStrings [ "\${" "''" ] [ "''\${" "'''" ];
            single = "\"" + concatStringsSep "\\n" (map escapeSingle lines) + "\"";
            # An empty last line puts the closing '' on a line of its own.
            multi =
              let escaped = map escapeMulti lines; lastLine = lib.last escaped; in
              "''" + introSpace + concatStringsSep introSpace (lib.init escaped)
              + (if lastLine == "" then outroSpace else introSpace + lastLine) + "''";
          in if multiline && length lines > 1 then multi else single
        else if v == true then "true"
        else if v == false then "false"
        else if v == null then "null"
        else if isPath v then toString v
        else if isList v then
          if v == [ ] then "[ ]"
          else "[" + introSpace + concatStringsSep introSpace (map (go (indent + "  ")) v) + outroSpace + "]"
        else if isFunction v then
          let args = lib.functionArgs v;
              shown = map (n: if args.${n} then "${n}?" else n) (attrNames args);
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
  # A value with its nesting limited to `depthLimit`: deeper values are an error, or with
  # `throwOnDepthLimit = false` the string "<unevaluated>".
  withRecursion = { depthLimit, throwOnDepthLimit ? true }:
    assert isInt depthLimit;
    let
      special = [ "__functor" "__functionArgs" "__toString" "__pretty" ];
      limit = depth:
        if depthLimit != null && depth > depthLimit then
          (if throwOnDepthLimit
           then throw "Exceeded maximum eval-depth limit of ${toString depthLimit} while trying to evaluate with `generators.withRecursion'!"
           else _: "<unevaluated>")
        else x: x;
      walk = depth: v:
        let next = x: walk (depth + 1) (limit (depth + 1) x); in
        if isAttrs v then builtins.mapAttrs (name: if builtins.elem name special then (x: x) else next) v
        else if isList v then map next v
        else limit (depth + 1) v;
    in walk 0;

  # Apple's XML property lists; with `escape`, XML's special characters in strings and keys.
  toPlist = { escape ? false }: v:
    let
      text = if escape then lib.escapeXML else x: x;
      render = ind: x:
        if x == null then ""
        else if isBool x then ind + (if x then "<true/>" else "<false/>")
        else if isInt x then ind + "<integer>${toString x}</integer>"
        else if isString x then ind + "<string>${text x}</string>"
        else if isList x then
          concatStringsSep "\n" ([ (ind + "<array>") ] ++ map (render "\t${ind}") x ++ [ (ind + "</array>") ])
        else if isAttrs x then
          concatStringsSep "\n" ([ (ind + "<dict>") ]
            ++ builtins.concatMap (name:
              let value = x.${name}; in
              if name == "_module" || value == null then [ ]
              else [ "\t${ind}<key>${text name}</key>" (render "\t${ind}" value) ]) (attrNames x)
            ++ [ (ind + "</dict>") ])
        else if isPath x then ind + "<string>${text (toString x)}</string>"
        else if isFloat x then ind + "<real>${toString x}</real>"
        else abort "generators.toPlist: should never happen (v = ${typeOf x})";
    in
    lib.warnIf (!escape && lib.oldestSupportedReleaseIsAtLeast 2505)
      "Using `lib.generators.toPlist` without `escape = true` is deprecated"
      ''
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE plist PUBLIC "-//Apple Computer//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
        <plist version="1.0">
        ${render "" v}
        </plist>'';

  # Dhall; integers are always `Integer` (signed), never `Natural`.
  toDhall = { }@args: v:
    if isAttrs v then "{ ${concatStringsSep ", " (map (k: "${k} = ${toDhall args v.${k}}") (attrNames v))} }"
    else if isList v then "[ ${concatStringsSep ", " (map (toDhall args) v)} ]"
    else if isInt v then (if v < 0 then "" else "+") + toString v
    else if isBool v then (if v then "True" else "False")
    else if isFunction v then abort "generators.toDhall: cannot convert a function to Dhall"
    else if v == null then abort "generators.toDhall: cannot convert a null to Dhall"
    else builtins.toJSON v;

  mkLuaInline = expr: { _type = "lua-inline"; inherit expr; };
  # Lua; `mkLuaInline` values are written as they are, `asBindings` makes a set global
  # assignments.
  toLua = { multiline ? true, indent ? "", asBindings ? false }@args: v:
    let
      inner = indent + "  ";
      introSpace = if multiline then "\n${inner}" else " ";
      outroSpace = if multiline then "\n${indent}" else " ";
      innerArgs = args // { indent = if asBindings then indent else inner; asBindings = false; };
      items = concatStringsSep ",${introSpace}";
      badNames = builtins.filter
        (n: builtins.match "[[:alpha:]_][[:alnum:]_]*(\\.[[:alpha:]_][[:alnum:]_]*)*" n == null) (attrNames v);
    in
    if asBindings then
      assert lib.assertMsg (badNames == [ ]) "Bad Lua var names: ${toPretty { } badNames}";
      lib.concatStrings (map (k: "${indent}${k} = ${toLua innerArgs v.${k}}\n") (attrNames v))
    else if v == null then "nil"
    else if isInt v || isFloat v || isString v || isBool v then builtins.toJSON v
    else if isPath v || lib.isDerivation v then builtins.toJSON "${v}"
    else if isList v then
      (if v == [ ] then "{}" else "{${introSpace}${items (map (toLua innerArgs) v)}${outroSpace}}")
    else if isAttrs v then
      (if (v._type or null) == "lua-inline" then "(${v.expr})"
       else if v == { } then "{}"
       else "{${introSpace}${items (map (k: "[${builtins.toJSON k}] = ${toLua innerArgs v.${k}}") (attrNames v))}${outroSpace}}")
    else abort "generators.toLua: type ${typeOf v} is unsupported";
  # dconf keyfiles: values are GVariant text (`lib.gvariant`), so strings are quoted.
  mkDconfKeyValue = mkKeyValueDefault { mkValueString = v: toString (lib.gvariant.mkValue v); } "=";
  toDconfINI = toINI { mkKeyValue = mkDconfKeyValue; };
in
{
  inherit mkLuaInline;
  generators = {
    inherit mkValueStringDefault mkKeyValueDefault toKeyValue toINI toINIWithGlobalSection
      toGitINI toJSON toYAML toPretty withRecursion toPlist toDhall toLua mkLuaInline
      mkDconfKeyValue toDconfINI;
  };
}
