{ lib }:
let
  inherit (builtins) attrNames listToAttrs mapAttrs filter hasAttr getAttr head tail length;
in
{
  inherit (builtins) attrNames attrValues hasAttr getAttr mapAttrs removeAttrs intersectAttrs catAttrs listToAttrs zipAttrsWith isAttrs;
  nameValuePair = name: value: { inherit name value; };
  mapAttrs' = f: set: listToAttrs (map (n: f n set.${n}) (attrNames set));
  mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
  attrsToList = set: map (n: { name = n; value = set.${n}; }) (attrNames set);
  filterAttrs = pred: set: listToAttrs (builtins.concatMap (n: let v = set.${n}; in if pred n v then [ { name = n; value = v; } ] else [ ]) (attrNames set));
  genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
  optionalAttrs = cond: set: if cond then set else { };
  attrByPath = path: default: set:
    if path == [ ] then set
    else let n = head path; in if builtins.isAttrs set && set ? ${n} then lib.attrByPath (tail path) default set.${n} else default;
  hasAttrByPath = path: set:
    if path == [ ] then true
    else let n = head path; in builtins.isAttrs set && set ? ${n} && lib.hasAttrByPath (tail path) set.${n};
  getAttrFromPath = path: set:
    lib.attrByPath path (throw "cannot find attribute `${lib.concatStringsSep "." path}'") set;
  setAttrByPath = path: value:
    if path == [ ] then value else { ${head path} = lib.setAttrByPath (tail path) value; };
  recursiveUpdate = lhs: rhs:
    lhs // mapAttrs (n: r: if builtins.isAttrs r && lhs ? ${n} && builtins.isAttrs lhs.${n} && !(lib.isDerivation r) then lib.recursiveUpdate lhs.${n} r else r) rhs;
  foldAttrs = op: nul: list:
    builtins.foldl' (acc: set: acc // mapAttrs (n: v: op v (acc.${n} or nul)) set) { } (lib.reverseList list);
  zipAttrs = builtins.zipAttrsWith (_: vs: vs);
  collect = pred: v:
    if pred v then [ v ]
    else if builtins.isAttrs v then builtins.concatMap (lib.collect pred) (builtins.attrValues v)
    else [ ];
  isDerivation = v: builtins.isAttrs v && (v.type or null) == "derivation";
  attrsets = { inherit (lib) filterAttrs mapAttrs'; };
}
