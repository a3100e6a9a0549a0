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
  # Recurses wherever both sides are sets (derivations too, as nixpkgs' does).
  recursiveUpdate = lhs: rhs:
    lhs // mapAttrs (n: r: if builtins.isAttrs r && lhs ? ${n} && builtins.isAttrs lhs.${n} then lib.recursiveUpdate lhs.${n} r else r) rhs;
  foldAttrs = op: nul: list:
    builtins.foldl' (acc: set: acc // mapAttrs (n: v: op v (acc.${n} or nul)) set) { } (lib.reverseList list);
  zipAttrs = builtins.zipAttrsWith (_: vs: vs);
  collect = pred: v:
    if pred v then [ v ]
    else if builtins.isAttrs v then builtins.concatMap (lib.collect pred) (builtins.attrValues v)
    else [ ];
  isDerivation = v: builtins.isAttrs v && (v.type or null) == "derivation";
  concatMapAttrs = f: v: builtins.foldl' (a: b: a // b) { } (builtins.attrValues (mapAttrs f v));
  mapAttrsRecursive = f: set: lib.mapAttrsRecursiveCond (as: true) f set;
  mapAttrsRecursiveCond = cond: f: set:
    let
      recurse = path: mapAttrs (name: value:
        if builtins.isAttrs value && cond value then recurse (path ++ [ name ]) value
        else f (path ++ [ name ]) value);
    in recurse [ ] set;
  filterAttrsRecursive = pred: set:
    listToAttrs (builtins.concatMap (name:
      let v = set.${name}; in
      if pred name v then [ (lib.nameValuePair name (if builtins.isAttrs v then lib.filterAttrsRecursive pred v else v)) ]
      else [ ]) (attrNames set));
  foldlAttrs = f: init: set: builtins.foldl' (acc: name: f acc name set.${name}) init (attrNames set);
  attrVals = nameList: set: map (x: set.${x}) nameList;
  getAttrs = names: attrs: lib.genAttrs names (name: attrs.${name});
  mergeAttrsList = list: builtins.foldl' (a: b: a // b) { } list;
  # Only an attribute both sets have is an error, and only when it is used.
  unionOfDisjoint = x: y:
    let
      intersection = builtins.intersectAttrs x y;
      collisions = lib.concatStringsSep " " (attrNames intersection);
    in
    x // y // mapAttrs (name: _: throw "unionOfDisjoint: collision on ${name}; complete list: ${collisions}") intersection;
  zipAttrsWithNames = names: f: sets:
    listToAttrs (map (name: { inherit name; value = f name (builtins.catAttrs name sets); }) names);
  matchAttrs = pattern: attrs:
    builtins.all (name:
      let p = pattern.${name}; in
      attrs ? ${name} && (if builtins.isAttrs p then builtins.isAttrs attrs.${name} && lib.matchAttrs p attrs.${name} else p == attrs.${name}))
      (attrNames pattern);
  recursiveUpdateUntil = pred: lhs: rhs:
    let
      f = attrPath: builtins.zipAttrsWith (n: values:
        let here = attrPath ++ [ n ]; in
        if length values == 1 || pred here (builtins.elemAt values 1) (head values) then head values
        else f here values);
    in f [ ] [ rhs lhs ];
  cartesianProductOfSets = lib.cartesianProduct;
  recurseIntoAttrs = attrs: attrs // { recurseForDerivations = true; };
  dontRecurseIntoAttrs = attrs: attrs // { recurseForDerivations = false; };
  toDerivation = path:
    let path' = builtins.storePath path; in
    { type = "derivation"; name = lib.getName (builtins.substring 33 (-1) (baseNameOf path')); outPath = path'; outputs = [ "out" ]; out = path'; outputName = "out"; };
  genAttrs' = xs: f: listToAttrs (map f xs);
  # The longest prefix of `attrPath` that names an attribute in `v` (no further than needed
  # is forced).
  longestValidPathPrefix = attrPath: v:
    let
      go = n: set:
        if n == length attrPath then attrPath
        else
          let name = builtins.elemAt attrPath n; in
          if builtins.isAttrs set && set ? ${name} then go (n + 1) set.${name}
          else lib.take n attrPath;
    in if attrPath == [ ] then [ ] else go 0 v;
  overrideExisting = old: new: mapAttrs (name: value: new.${name} or value) old;
  showAttrPath = path:
    if path == [ ] then "<root attribute path>" else lib.concatMapStringsSep "." lib.escapeNixIdentifier path;
  mapAttrsToListRecursiveCond = pred: f: set:
    let
      go = path: set: builtins.concatMap (name:
        let v = set.${name}; p = path ++ [ name ]; in
        if builtins.isAttrs v && pred p v then go p v else [ (f p v) ]) (attrNames set);
    in go [ ] set;
  mapAttrsToListRecursive = lib.mapAttrsToListRecursiveCond (_: _: true);
  # Applies updates at attribute paths, deeper ones first, those at one path in list order;
  # missing intermediate sets are created.
  updateManyAttrsByPath = updates: value:
    let
      apply = depth: hasValue: value: updates:
        let
          here = builtins.partition (u: length u.path == depth) updates;
          deeper = builtins.groupBy (u: builtins.elemAt u.path depth) here.wrong;
          nested =
            if here.wrong == [ ] then (if hasValue then value else null)
            else if hasValue && !(builtins.isAttrs value) then
              throw "updateManyAttrsByPath: Path '${lib.showAttrPath (lib.take depth (head here.wrong).path)}' does not lead to an attribute set"
            else
              let base = if hasValue then value else { }; in
              base // mapAttrs (name: us: apply (depth + 1) (base ? ${name}) (base.${name} or null) us) deeper;
          start = if here.wrong == [ ] && !hasValue then
            throw "updateManyAttrsByPath: Path '${lib.showAttrPath (head here.right).path}' does not exist in the expression"
            else nested;
        in
        if here.right == [ ] then nested
        else builtins.foldl' (acc: u: u.update acc) start here.right;
    in apply 0 true value updates;
  zipWithNames = lib.zipAttrsWithNames;
  zip = lib.warn "lib.zip is a deprecated alias of lib.zipAttrsWith." builtins.zipAttrsWith;
  attrsets = {
    inherit (lib) filterAttrs mapAttrs' concatMapAttrs mapAttrsRecursive mapAttrsRecursiveCond
      filterAttrsRecursive foldlAttrs attrVals getAttrs mergeAttrsList unionOfDisjoint
      zipAttrsWithNames matchAttrs recursiveUpdate recursiveUpdateUntil cartesianProductOfSets
      nameValuePair mapAttrsToList attrsToList genAttrs optionalAttrs attrByPath hasAttrByPath
      getAttrFromPath setAttrByPath collect isDerivation foldAttrs zipAttrs recurseIntoAttrs
      dontRecurseIntoAttrs genAttrs' longestValidPathPrefix overrideExisting showAttrPath
      mapAttrsToListRecursive mapAttrsToListRecursiveCond updateManyAttrsByPath zipWithNames
      mapCartesianProduct cartesianProduct getOutput getFirstOutput getBin getLib getStatic getDev
      getInclude getMan chooseDevOutputs toDerivation;
    inherit (builtins) attrNames attrValues hasAttr getAttr mapAttrs removeAttrs intersectAttrs
      catAttrs listToAttrs zipAttrsWith isAttrs;
  };
}
