# Every visible option of an evaluation, documented: name, type, default, example,
# description and the files that declare it. Options of submodules appear with `<name>` or
# `*` in their names.
#
# `name` keeps only that option and those below it. With `withValues`, each option of the
# configuration itself (not the `<name>` templates of submodules) also carries its merged
# value, printed as a Nix expression, and the files that define it, as `nixos-option` shows.
{ options, name ? null, withValues ? false }:
let
  lib = import ./lib;
  inherit (builtins) attrNames isAttrs isList isString concatMap tryEval;
  wanted = n: name == null || n == name || lib.hasPrefix "${name}." n;
  # A value as a Nix expression over several lines, two spaces a level.
  pretty = indent: v:
    let inner = indent + "  "; in
    if isAttrs v && lib.isDerivation v then "«derivation ${v.name or "?"}»"
    else if isAttrs v && v ? _type then "«${v._type}»"
    else if isAttrs v then
      (let names = builtins.filter (n: n != "_module") (attrNames v); in
       if names == [ ] then "{ }"
       else "{\n" + lib.concatMapStrings (n: "${inner}${attrName n} = ${pretty inner v.${n}};\n") names + "${indent}}")
    else if isList v then
      (if v == [ ] then "[ ]"
       else "[\n" + lib.concatMapStrings (x: "${inner}${pretty inner x}\n") v + "${indent}]")
    else lib.showValue 0 v;
  attrName = n: if builtins.match "[a-zA-Z_][a-zA-Z0-9_'-]*" n != null then n else builtins.toJSON n;
  valueOf = opt:
    let r = tryEval (let p = pretty "" opt.value; in builtins.seq p p); in
    if !(opt.isDefined or true) then { } # no definition and no default
    else if r.success then { value = r.value; }
    else { value = "«error: the value cannot be computed»"; };
  values = opt:
    lib.optionalAttrs (withValues && opt ? files) ({ definitions = map toString opt.files; } // valueOf opt);
  show = v:
    if isAttrs v && (v._type or null) == "literalExpression" then v.text
    else if isAttrs v && (v._type or null) == "literalMD" then v.text
    else let r = tryEval (lib.showValue 0 v); in if r.success then r.value else "<not computable>";
  doc = opt: {
    name = lib.concatStringsSep "." opt.loc;
    type = opt.type.description or "unspecified";
    description = opt.description or null;
    declarations = map toString (opt.declarations or [ ]);
    readOnly = opt.readOnly or false;
  } // lib.optionalAttrs (opt ? default || opt ? defaultText) {
    default = if opt ? defaultText && opt.defaultText != null then show opt.defaultText else show opt.default;
  } // lib.optionalAttrs (opt ? example && opt.example != null) {
    example = show opt.example;
  };
  visible = opt: (opt.visible or true) && !(opt.internal or false);
  # `top`: options of the configuration, which have values; below a submodule's template
  # (`<name>`, `*`) they have none.
  walk = top: tree: concatMap (n:
    let v = tree.${n}; in
    if lib.isOption v then
      (if visible v then
        (let d = doc v; in if wanted d.name then [ (d // lib.optionalAttrs top (values v)) ] else [ ])
        ++ sub v
       else [ ])
    else if isAttrs v then walk top v
    else [ ]) (attrNames tree);
  sub = opt:
    if opt.type ? getSubOptions then walk false (opt.type.getSubOptions opt.loc) else [ ];
  # `users.users.alice.uid`: no option has that name, but it is a path into the value of one
  # (`users.users`): that option, with the value at the path.
  inside = tree: path:
    if path == [ ] || !(isAttrs tree) || !(tree ? ${builtins.head path}) then [ ]
    else
      let v = tree.${builtins.head path}; rest = builtins.tail path; in
      if lib.isOption v then
        (if rest == [ ] || !withValues || !(lib.hasAttrByPath rest v.value) then [ ]
         else [ ((doc v) // { inherit name; partOf = doc.name or (lib.concatStringsSep "." v.loc); }
                 // values (v // { value = lib.attrByPath rest null v.value; })) ])
      else inside v rest;
  found = walk true options;
in
  builtins.sort (a: b: a.name < b.name)
    (if found == [ ] && name != null then inside options (lib.splitString "." name) else found)
