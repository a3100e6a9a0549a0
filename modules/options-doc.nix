# Every visible option of an evaluation, documented: name, type, default, example,
# description and the files that declare it. Options of submodules appear with `<name>` or
# `*` in their names.
{ options }:
let
  lib = import ./lib;
  inherit (builtins) attrNames isAttrs concatMap tryEval;
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
  walk = tree: concatMap (n:
    let v = tree.${n}; in
    if lib.isOption v then
      (if visible v then [ (doc v) ] ++ sub v else [ ])
    else if isAttrs v then walk v
    else [ ]) (attrNames tree);
  sub = opt:
    if opt.type ? getSubOptions then walk (opt.type.getSubOptions opt.loc) else [ ];
in
  builtins.sort (a: b: a.name < b.name) (walk options)
