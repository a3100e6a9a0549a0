# The helpers of nixpkgs' `lib.modules` and `lib.options` that are modules or definitions
# themselves: aliases of definitions, renamed, merged and changed options, module locations,
# and the option-documentation helpers; plus the `lib.options` and `lib.modules` name spaces
# and the option-type predicates nixpkgs exports at the top.
{ lib }:
let
  inherit (builtins) length head isAttrs isList mapAttrs;
  inherit (lib) showOption showFiles mkOption mkIf mkMerge mkOverride setAttrByPath attrByPath
    getAttrFromPath optionalAttrs optional;

  # The definitions of `option`, wrapped (by `setAttrByPath to`, say), when it is defined.
  mkAliasAndWrapDefinitions = wrap: option:
    mkIf (lib.isOption option && option.isDefined) (wrap (mkMerge option.definitions));
  # The same, keeping the priority the definitions had.
  mkAliasAndWrapDefsWithPriority = wrap: option:
    let prio = option.highestPrio or lib.defaultOverridePriority; in
    mkIf (lib.isOption option && option.isDefined) (wrap (mkMerge (map (mkOverride prio) option.definitions)));

  # `from` as another name of `to`: definitions of `from` become definitions of `to` (with
  # their priority, unless `withPriority = false`), reading `from` reads `to` through `use`,
  # and with `warn` a defined `from` adds a warning.
  doRename = { from, to, visible, warn, use, withPriority ? true, condition ? true }:
    { config, options, ... }:
    let
      fromOpt = getAttrFromPath from options;
      toValue = attrByPath to (abort "Renaming error: option `${showOption to}' does not exist.") config;
    in {
      options = setAttrByPath from (mkOption {
        inherit visible;
        description = "Alias of `${showOption to}'.";
        type = lib.types.unspecified // { name = "alias"; };
        apply = _: use toValue;
      });
      config = mkIf condition (mkMerge [
        (optionalAttrs (options ? warnings) {
          warnings = optional (warn && fromOpt.isDefined)
            "The option `${showOption from}' defined in ${showFiles fromOpt.files} has been renamed to `${showOption to}'.";
        })
        (if withPriority then mkAliasAndWrapDefsWithPriority (setAttrByPath to) fromOpt
         else mkAliasAndWrapDefinitions (setAttrByPath to) fromOpt)
      ]);
    };

  # Options `from` replaced by `to`, whose value `mergeFn config` computes from theirs.
  mkMergedOptionModule = from: to: mergeFn: { config, options, ... }:
    let
      unset = "_mkMergedOptionModule";
      isSet = f: getAttrFromPath f config != unset;
    in {
      options = builtins.foldl' lib.recursiveUpdate { } (map (path:
        setAttrByPath path (mkOption { visible = false; default = unset; })) from);
      config = optionalAttrs (options ? warnings) {
        warnings = builtins.concatMap (f:
          optional (isSet f)
            "The option `${showOption f}' defined in ${showFiles (getAttrFromPath f options).files} has been changed to `${showOption to}' that has a different type. Please read `${showOption to}' documentation and update your configuration accordingly.")
          from;
      } // setAttrByPath to (mkMerge (optional (builtins.any isSet from) (mergeFn config)));
    };

  propertyType = v: if isAttrs v then v._type or "" else "";

  modulesNames = {
    # A definition's `mkMerge`, `mkIf` and `mkOverride` moved into each of its attributes: a
    # list of plain sets.
    pushDownProperties = cfg:
      let t = propertyType cfg; in
      if t == "merge" then builtins.concatMap lib.pushDownProperties cfg.contents
      else if t == "if" then map (mapAttrs (_: mkIf cfg.condition)) (lib.pushDownProperties cfg.content)
      else if t == "override" then map (mapAttrs (_: mkOverride cfg.priority)) (lib.pushDownProperties cfg.content)
      else [ cfg ];
    # The values a definition stands for once `mkMerge` and `mkIf` are resolved.
    dischargeProperties = def:
      let t = propertyType def; in
      if t == "merge" then builtins.concatMap lib.dischargeProperties def.contents
      else if t == "if" then
        (if !(builtins.isBool def.condition)
         then throw "mkIf called with a non-Boolean condition"
         else if def.condition then lib.dischargeProperties def.content else [ ])
      else [ def ];
    # The definitions (`{ file, value }`) of the best priority, their `mkOverride` removed.
    filterOverrides = defs:
      let
        prio = d: if propertyType d.value == "override" then d.value.priority else lib.defaultOverridePriority;
        best = builtins.foldl' (m: d: lib.min m (prio d)) 9999 defs;
      in
      builtins.concatMap (d:
        if prio d != best then [ ]
        else if propertyType d.value == "override" then [ (d // { value = d.value.content; }) ]
        else [ d ]) defs;
    # The definitions in `mkOrder` order, each with its `priority`.
    sortProperties = defs:
      let
        unwrap = d: if propertyType d.value == "order" then d // { value = d.value.content; inherit (d.value) priority; } else d;
        order = d: d.priority or lib.defaultOrderPriority;
      in builtins.sort (a: b: order a < order b) (map unwrap defs);
    inherit mkAliasAndWrapDefinitions mkAliasAndWrapDefsWithPriority doRename mkMergedOptionModule;
    mkAliasDefinitions = mkAliasAndWrapDefinitions (x: x);
    mkAliasIfDef = option: mkIf (lib.isOption option && option.isDefined);
    mkChangedOptionModule = from: to: changeFn: mkMergedOptionModule [ from ] to changeFn;
    mkRenamedOptionModuleWith = { sinceRelease, from, to }: doRename {
      inherit from to;
      visible = false;
      warn = lib.oldestSupportedReleaseIsAtLeast sinceRelease;
      use = lib.warnIf (lib.oldestSupportedReleaseIsAtLeast sinceRelease)
        "Obsolete option `${showOption from}' is used. It was renamed to `${showOption to}'.";
    };
    mkAliasOptionModuleMD = lib.mkAliasOptionModule;
    # A value derived from an option's, with the option's priority.
    mkDerivedConfig = opt: f: mkOverride (opt.highestPrio or lib.defaultOverridePriority) (f opt.value);
    setDefaultModuleLocation = file: m: { _file = file; imports = [ m ]; };
    # A module file that is a function of a static argument, applied, keeping its location.
    importApply = modulePath: staticArg:
      lib.setDefaultModuleLocation modulePath (import modulePath staticArg);
    mkAssert = assertion: message: content:
      mkIf (if assertion then true else throw "\nFailed assertion: ${message}") content;
    mkFixStrictness = lib.warn
      "lib.mkFixStrictness has no effect and will be removed. It returns its argument unmodified, so you can just remove any calls."
      (x: x);
    defaultPriority = lib.warnIf (lib.oldestSupportedReleaseIsAtLeast 2305)
      "lib.modules.defaultPriority is deprecated, please use lib.modules.defaultOverridePriority instead."
      lib.defaultOverridePriority;
  };

  optionsNames = {
    unknownModule = "<unknown-file>";
    # Option paths as NixOS shows them: a part that is no identifier (nor `*` or `<name>`)
    # is quoted.
    showOption = parts: lib.concatMapStringsSep "." (part:
      if part == "*" || builtins.match "<.+>" part != null || builtins.match "[a-zA-Z_][a-zA-Z0-9_'-]*" part != null
      then part else lib.escapeNixString part) parts;
    showOptionWithDefLocs = opt: ''
      ${showOption opt.loc}, with values defined in:
      ${lib.concatMapStringsSep "\n" (defFile: "  - ${toString defFile}") opt.files}
    '';
    # One definition, or an error that says why only one is allowed.
    mergeUniqueOption = { message, merge ? (loc: defs: (head defs).value) }: loc: defs:
      if length defs == 1 then merge loc defs
      else assert length defs > 1;
        throw "The option `${showOption loc}' is defined multiple times while it's expected to be unique.\n${message}\nDefinition values:${lib.showDefinitions defs}\nUse `lib.mkForce value` or `lib.mkDefault value` to change the priority on any of these definitions.";
    # An option that takes definitions nobody declared, and cannot be read.
    mkSinkUndeclaredOptions = attrs: mkOption ({
      internal = true;
      visible = false;
      default = false;
      description = "Sink for option definitions.";
      type = lib.types.mkOptionType { name = "sink"; check = _: true; merge = _: _: false; };
      apply = _: throw "Option value is not readable because the option is not declared.";
    } // attrs);
    # A default or example as documentation shows it: literal text stays, other values are
    # written as Nix.
    renderOptionValue = v:
      if v ? _type && v ? text then v
      else lib.literalExpression (lib.generators.toPretty { multiline = true; allowPrettyValues = true; } v);
    # Every option of an option tree (and of its submodules, unless hidden) as documentation
    # reads it: name, description, type, default and example, declarations.
    optionAttrSetToDocList = lib.optionAttrSetToDocList' [ ];
    optionAttrSetToDocList' = _: options:
      builtins.concatMap (opt:
        let
          name = showOption opt.loc;
          visible = opt.visible or true;
          doc = {
            inherit (opt) loc;
            inherit name;
            description = opt.description or null;
            declarations = builtins.filter (x: x != lib.unknownModule) (opt.declarations or [ ]);
            internal = opt.internal or false;
            visible = if builtins.isBool visible then visible else visible == "shallow";
            readOnly = opt.readOnly or false;
            type = opt.type.description or "unspecified";
          }
          // optionalAttrs (opt ? example) { example = lib.renderOptionValue opt.example; }
          // optionalAttrs ((opt.defaultText or null) != null || opt ? default) {
            default = lib.renderOptionValue (if (opt.defaultText or null) != null then opt.defaultText else opt.default);
          }
          // optionalAttrs ((opt.relatedPackages or null) != null) { inherit (opt) relatedPackages; };
          sub = (opt.type.getSubOptions or (_: { })) opt.loc;
          subVisible = if builtins.isBool visible then visible else visible == "transparent";
        in
        [ doc ] ++ lib.optionals (subVisible && sub != { }) (lib.optionAttrSetToDocList' opt.loc sub))
        (lib.collect lib.isOption options);
    mkPackageOptionMD = lib.mkPackageOption;
    # A value fit for documentation: derivations become their names.
    scrubOptionValue = x:
      if lib.isDerivation x then { type = "derivation"; drvPath = x.name; outPath = x.name; name = x.name; }
      else if isList x then map lib.scrubOptionValue x
      else if isAttrs x then mapAttrs (_: lib.scrubOptionValue) (removeAttrs x [ "_args" ])
      else x;
  };
in
modulesNames // optionsNames // {
  modules = modulesNames // {
    inherit (lib) evalModules mkIf mkMerge mkOverride mkOptionDefault mkDefault mkImageMediaOverride
      mkForce mkVMOverride mkOrder mkBefore mkAfter mkRemovedOptionModule mkRenamedOptionModule
      mkAliasOptionModule defaultOrderPriority defaultOverridePriority mergeDefinitions;
    importJSON = file: { _file = file; config = lib.importJSON file; };
    importTOML = file: { _file = file; config = lib.importTOML file; };
  };
  options = optionsNames // {
    inherit (lib) isOption mkOption mkEnableOption mkPackageOption literalExpression literalMD
      literalExample mdDoc mergeDefaultOption mergeOneOption mergeEqualOption getValues getFiles
      showFiles showDefinitions;
  };
  isType = type: x: (x._type or "") == type;
  setType = typeName: value: value // { _type = typeName; };
  isOptionType = lib.isType "option-type";
  inherit (lib.types) mkOptionType;
}
