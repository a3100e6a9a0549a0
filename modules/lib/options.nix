# Option declarations and the properties definitions can carry (conditions, merges,
# priorities, orders).
{ lib }:
{
  isOption = v: builtins.isAttrs v && (v._type or null) == "option";
  mkOption =
    { type ? null
    , default ? null
    , defaultText ? null
    , example ? null
    , description ? null
    , apply ? null
    , readOnly ? false
    , internal ? false
    , visible ? true
    , relatedPackages ? null
    }@attrs:
    attrs // { _type = "option"; type = if type == null then lib.types.unspecified else type; };
  mkEnableOption = name: lib.mkOption {
    type = lib.types.bool;
    default = false;
    example = true;
    description = "Whether to enable ${name}.";
  };
  # `name` (or its last part) documented as "The <name> package to use."; the package at
  # `default` (a name or an attribute path, `name` unless given) in `pkgs`, shown as
  # `<pkgsText>.<path>`; `default = null` declares no default (null when `nullable`).
  mkPackageOption = pkgs: name:
    { nullable ? false, default ? name, example ? null, extraDescription ? "", pkgsText ? "pkgs" }:
    let
      shownName = if builtins.isList name then lib.last name else name;
      path = lib.toList default;
      shownPath = lib.showAttrPath path;
      defaults =
        if default != null then {
          default = lib.attrByPath path (throw "${shownPath} cannot be found in ${pkgsText}") pkgs;
          defaultText = lib.literalExpression "${pkgsText}.${shownPath}";
        }
        else lib.optionalAttrs nullable { default = null; };
    in lib.mkOption (defaults // {
      description = "The ${shownName} package to use." + lib.optionalString (extraDescription != "") " ${extraDescription}";
      type = if nullable then lib.types.nullOr lib.types.package else lib.types.package;
    } // lib.optionalAttrs (example != null) {
      example = lib.literalExpression (if builtins.isList example then "${pkgsText}.${lib.showAttrPath example}" else example);
    });
  literalExpression = text:
    if !(builtins.isString text) then throw "literalExpression expects a string." else { _type = "literalExpression"; inherit text; };
  literalMD = text:
    if !(builtins.isString text) then throw "literalMD expects a string." else { _type = "literalMD"; inherit text; };
  literalExample = lib.literalExpression;
  mdDoc = s: s;

  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOptionDefault = lib.mkOverride 1500;
  mkDefault = lib.mkOverride 1000;
  mkImageMediaOverride = lib.mkOverride 60;
  mkForce = lib.mkOverride 50;
  mkVMOverride = lib.mkOverride 10;
  mkOrder = priority: content: { _type = "order"; inherit priority content; };
  mkBefore = lib.mkOrder 500;
  mkAfter = lib.mkOrder 1500;
  defaultOrderPriority = 1000;
  defaultOverridePriority = 100;

  # A module that declares `from` as another name of `to`: definitions move over, with a
  # warning (`mkRenamedOptionModule`) or silently (`mkAliasOptionModule`).
  mkRenamedOptionModule = lib.mkRenamedOptionModuleWith' true;
  mkAliasOptionModule = lib.mkRenamedOptionModuleWith' false;
  mkRenamedOptionModuleWith' = warn: from: to: { config, options, ... }:
    let
      fromOpt = lib.attrByPath from { } options;
      defined = lib.attrByPath from null options != null && (fromOpt.isDefined or false);
    in {
      options = lib.setAttrByPath from (lib.mkOption {
        visible = false;
        description = "Alias of `${lib.showOption to}'.";
        type = lib.types.unspecified // { name = "alias"; };
      });
      config = lib.mkMerge ([
        (lib.mkIf defined (lib.setAttrByPath to (lib.mkMerge (map (d: d.value) fromOpt.definitionsWithLocations))))
      ] ++ lib.optional (warn && options ? warnings) {
        warnings = lib.optional defined "The option `${lib.showOption from}' defined in ${lib.showFiles fromOpt.files} has been renamed to `${lib.showOption to}'.";
      });
    };
  # The values and the files of a list of definitions.
  getValues = map (d: d.value);
  getFiles = map (d: d.file);
  mergeOneOption = loc: defs: lib.types.mergeOne loc defs;
  mergeEqualOption = loc: defs: lib.types.mergeEqual loc defs;
  mergeDefaultOption = loc: defs: lib.types.mergeDefault loc defs;
  # A module that declares `path` as removed: defining it is an error that says why.
  mkRemovedOptionModule = path: message: { options, ... }: {
    options = lib.setAttrByPath path (lib.mkOption {
      visible = false;
      description = "Removed option.";
      apply = x: throw "The option `${lib.showOption path}' can no longer be used since it's been removed. ${message}";
    });
    config = lib.optionalAttrs (options ? assertions) {
      assertions = let opt = lib.getAttrFromPath path options; in [
        {
          assertion = !opt.isDefined;
          message = "The option definition `${lib.showOption path}' in ${lib.showFiles opt.files} no longer has any effect; please remove it.\n${message}";
        }
      ];
    };
  };
  showFiles = files: lib.concatStringsSep " and " (map (f: "`${toString f}'") files);
}
