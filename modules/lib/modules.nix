# The module system: modules are collected through `imports`, their option declarations
# merged into one tree, their definitions pushed down to the options they define, and each
# option's value computed from its definitions by priority, order and type.
{ lib }:
let
  inherit (builtins) attrNames isAttrs isFunction isList isPath isString isBool length head
    tail filter concatMap mapAttrs foldl' elem genericClosure listToAttrs;

  showLoc = loc: lib.concatStringsSep "." loc;

  # ---------------------------------------------------------------------------------------
  # Printing definition values in messages.

  showValue = depth: v:
    if isString v then builtins.toJSON v
    else if builtins.isInt v || builtins.isFloat v then toString v
    else if isBool v then lib.boolToString v
    else if v == null then "null"
    else if isPath v then toString v
    else if isFunction v then "<function>"
    else if isList v then
      (if v == [ ] then "[ ]" else if depth > 2 then "[ ... ]" else "[ " + lib.concatMapStringsSep " " (showValue (depth + 1)) v + " ]")
    else if isAttrs v then
      (if lib.isDerivation v then "<derivation ${v.name or "?"}>"
       else if v ? _type then "<${v._type}>"
       else if depth > 2 then "{ ... }"
       else "{ " + lib.concatMapStrings (n: "${n} = ${showValue (depth + 1) v.${n}}; ") (attrNames v) + "}")
    else "<value>";

  showDefs = defs: lib.concatMapStrings (d: "\n- In ${toString d.file}: ${showValue 0 d.value}") defs;

  # ---------------------------------------------------------------------------------------
  # Definitions: properties (mkIf, mkMerge, mkOverride, mkOrder).

  # The plain definitions a value stands for, with their priority and order.
  discharge = file: prio: order: v:
    if isAttrs v && v ? _type then
      (if v._type == "merge" then concatMap (discharge file prio order) v.contents
       else if v._type == "if" then
         (if !isBool v.condition then
            throw "mkIf called with a non-Boolean condition (${showValue 0 v.condition}) in ${toString file}"
          else if v.condition then discharge file prio order v.content else [ ])
       else if v._type == "override" then discharge file v.priority order v.content
       else if v._type == "order" then discharge file prio v.priority v.content
       else [ { inherit file; value = v; priority = prio; order = order; } ])
    else [ { inherit file; value = v; priority = prio; order = order; } ];

  # The values definitions of one option keep: those of the best (lowest) priority, in order.
  selectDefs = defs:
    let
      best = foldl' (m: d: if d.priority < m then d.priority else m) 9999 defs;
      kept = filter (d: d.priority == best) defs;
    in {
      highestPrio = best;
      defs = builtins.sort (a: b: a.order < b.order) kept;
    };

  # Merges the (raw) definitions of one option of type `type` at `loc`.
  mergeDefinitions = loc: type: rawDefs:
    let
      discharged = concatMap (d: discharge d.file (d.priority or lib.defaultOverridePriority) (d.order or lib.defaultOrderPriority) d.value) rawDefs;
      selected = selectDefs discharged;
      defs = map (d: { inherit (d) file value; }) selected.defs;
      bad = filter (d: !(type.check d.value)) defs;
      checked =
        if bad != [ ] then
          throw "A definition for option `${showLoc loc}` is not of type `${type.description}`. Definition values:${showDefs bad}"
        else defs;
    in {
      defsFinal = defs;
      inherit (selected) highestPrio;
      isDefined = defs != [ ];
      mergedValue =
        if defs == [ ] then throw "The option `${showLoc loc}' is used but not defined."
        else type.merge loc checked;
      optionalValue = if defs == [ ] then { } else { value = type.merge loc checked; };
    };

  # Pushes properties of a set-valued definition down to its attributes, giving the list of
  # plain sets it stands for (conditions stay lazy: they travel with each attribute).
  pushDown = v:
    if isAttrs v && v ? _type then
      (if v._type == "merge" then concatMap pushDown v.contents
       else if v._type == "if" then map (mapAttrs (n: x: lib.mkIf v.condition x)) (pushDown v.content)
       else if v._type == "override" then map (mapAttrs (n: x: lib.mkOverride v.priority x)) (pushDown v.content)
       else if v._type == "order" then map (mapAttrs (n: x: lib.mkOrder v.priority x)) (pushDown v.content)
       else [ v ])
    else if isAttrs v && !(lib.isDerivation v) then [ v ]
    else throw "expected a set of option definitions but found ${showValue 0 v}";

  # ---------------------------------------------------------------------------------------
  # Collecting modules.

  isModulePath = m: isPath m || (isString m && lib.hasPrefix "/" m);

  knownModuleAttrs = [ "_file" "key" "imports" "options" "config" "disabledModules" "meta" "_class" "freeformType" ];

  normalize = file: key: m:
    if !isAttrs m then throw "The module ${file} is not a set (it is ${showValue 0 m})"
    else if m ? options || m ? config then
      let extra = removeAttrs m knownModuleAttrs; in
      if extra != { } then
        throw "Module `${file}' has an unsupported attribute `${head (attrNames extra)}'. This is caused by introducing a top-level `config' or `options' attribute. Add configuration attributes immediately on the top level instead, or move all of them (namely: ${lib.concatStringsSep " " (attrNames extra)}) into the explicit `config' attribute."
      else {
        _file = toString (m._file or file);
        key = toString (m.key or key);
        imports = m.imports or [ ];
        options = m.options or { };
        config = m.config or { };
        disabledModules = m.disabledModules or [ ];
      }
    else {
      _file = toString (m._file or file);
      key = toString (m.key or key);
      imports = m.imports or [ ];
      options = { };
      config = removeAttrs m [ "_file" "key" "imports" "disabledModules" "meta" "_class" ];
      disabledModules = m.disabledModules or [ ];
    };

  # Calls a module function with the arguments it names.
  applyModule = args: file: f:
    let
      wanted = lib.functionArgs f;
      lookup = n:
        if args ? ${n} then args.${n}
        else args.config._module.args.${n} or (throw "The module ${file} needs the argument `${n}', which no module provides; set it with `_module.args.${n}' or pass it in specialArgs.");
    in
      if wanted == { } then f args
      else f (mapAttrs (n: _: lookup n) wanted);

  load = args: parentFile: key: m:
    let
      file = if isModulePath m then toString m else parentFile;
      key' = if isModulePath m then toString m else key;
      loaded = if isModulePath m then import m else m;
      value = if isFunction loaded then applyModule args file loaded else loaded;
    in normalize file key' value;

  collectModules = args: modules:
    let
      items = genericClosure {
        startSet = lib.imap1 (i: m: {
          key = if isModulePath m then toString m else "<module ${toString i}>";
          module = load args "<module ${toString i}>" "<module ${toString i}>" m;
        }) modules;
        operator = item: lib.imap1 (i: m: {
          key = if isModulePath m then toString m else "${item.key}:anon-${toString i}";
          module = load args item.module._file "${item.key}:anon-${toString i}" m;
        }) item.module.imports;
      };
      all = map (i: i.module) items;
      disabled = map toString (concatMap (m: m.disabledModules) all);
    in filter (m: !(elem m.key disabled)) all;

  # ---------------------------------------------------------------------------------------
  # Declarations.

  # Merges the declarations of one option from several modules.
  mergeDecls = loc: decls:
    let
      first = head decls;
      types = map (d: lib.types.withFile d.file d.option.type) decls;
      mergedType = foldl' (t: u:
        if t == null then null
        else if t.name == u.name && t ? typeMerge then t.typeMerge u
        else if t.name == u.name && t.description == u.description && !(t ? typeMerge) then t
        else null) (head types) (tail types);
      withDefault = filter (d: d.option ? default) decls;
    in
      if length decls > 1 && mergedType == null then
        throw "The option `${showLoc loc}' in `${(head (tail decls)).file}' is already declared in `${first.file}'."
      else if length withDefault > 1 then
        throw "The option `${showLoc loc}' has a default value in both `${(head withDefault).file}' and `${(head (tail withDefault)).file}'."
      else
        foldl' (acc: d: acc // removeAttrs d.option [ "type" ]) { } decls // {
          type = mergedType;
          declarations = map (d: d.file) decls;
          loc = loc;
        } // (if withDefault != [ ] then { default = (head withDefault).option.default; defaultFile = (head withDefault).file; } else { });

  # Merges option trees from modules: `decls` is a list of { file, options }.
  mergeOptionTrees = loc: decls:
    let
      names = attrNames (builtins.listToAttrs (concatMap (d: map (n: { name = n; value = null; }) (attrNames d.options)) decls));
      # `at n` is every declaration of `n`, in order: grouped once by name (zipAttrsWith keeps
      # the list's order) rather than by scanning every module for every name. A non-set has
      # no names, as `?` sees it.
      byName = builtins.zipAttrsWith (n: ds: ds) (map (d:
        mapAttrs (n: _: { inherit (d) file; options = d.options.${n}; }) (if isAttrs d.options then d.options else { })) decls);
      at = n: byName.${n} or [ ];
    in listToAttrs (map (n:
      let
        here = at n;
        opts = filter (d: lib.isOption d.options) here;
        trees = filter (d: !(lib.isOption d.options)) here;
      in {
        name = n;
        value =
          if opts != [ ] && trees != [ ] then
            throw "The option `${showLoc (loc ++ [ n ])}' in `${(head opts).file}' is a prefix of options in `${(head trees).file}'."
          else if opts != [ ] then
            { _isOptionDecl = true; decl = mergeDecls (loc ++ [ n ]) (map (d: { inherit (d) file; option = d.options; }) opts); }
          else
            mergeOptionTrees (loc ++ [ n ]) (map (d: if isAttrs d.options then d else throw "The option tree at `${showLoc (loc ++ [ n ])}' in `${d.file}' is not a set of options.") trees);
      }) names);

  # ---------------------------------------------------------------------------------------
  # Definitions against declarations.

  # The closest declared names to `n`, for error messages.
  nearest = n: candidates:
    let
      scored = map (c: { name = c; d = lib.levenshtein n c; }) candidates;
      good = filter (s: s.d <= 2 || s.d * 3 <= builtins.stringLength n) scored;
      sorted = builtins.sort (a: b: a.d < b.d) good;
    in map (s: s.name) (lib.take 3 sorted);

  # `defs` is a list of { file, value } whose values are sets (after pushDown).
  evalTree = loc: tree: defs:
    let
      declared = attrNames tree;
      defined = attrNames (builtins.listToAttrs (concatMap (d: map (n: { name = n; value = null; }) (attrNames d.value)) defs));
      undeclared = filter (n: !(tree ? ${n})) defined;
      # The definitions of `n`, in order, grouped once by name (as `at` above).
      defsByName = builtins.zipAttrsWith (n: ds: ds) (map (d:
        mapAttrs (n: _: { inherit (d) file; value = d.value.${n}; }) (if isAttrs d.value then d.value else { })) defs);
      defsOf = n: defsByName.${n} or [ ];
      unmatched = map (n:
        let ds = defsOf n; hint = nearest n declared; in
        "The option `${showLoc (loc ++ [ n ])}' does not exist. Definition values:${showDefs ds}"
        + lib.optionalString (hint != [ ]) "\nDid you mean ${lib.concatMapStringsSep ", " (h: "`${showLoc (loc ++ [ h ])}'") hint}?")
        undeclared;
      children = mapAttrs (n: sub:
        if sub ? _isOptionDecl then evalOption (loc ++ [ n ]) sub.decl (defsOf n)
        else evalTree (loc ++ [ n ]) sub (concatMap (d: map (v: { inherit (d) file; value = v; }) (pushDown d.value)) (defsOf n)))
        tree;
    in {
      _isTree = true;
      options = mapAttrs (n: c: if c ? _isTree then c.options else c.option) children;
      config = mapAttrs (n: c: if c ? _isTree then c.config else c.value) children;
      unmatched = unmatched ++ concatMap (n: if children.${n} ? _isTree then children.${n}.unmatched else [ ]) (attrNames children);
    };

  evalOption = loc: decl: defs:
    let
      type = decl.type;
      defaultDefs = if decl ? default then [ { file = decl.defaultFile; value = lib.mkOptionDefault decl.default; } ] else [ ];
      merged = mergeDefinitions loc type (defs ++ defaultDefs);
      userDefs = defs;
      value0 = merged.mergedValue;
      value1 = if decl ? apply && decl.apply != null then decl.apply value0 else value0;
      value =
        if (decl.readOnly or false) && length (concatMap (d: discharge d.file 100 1000 d.value) userDefs) > 1 then
          throw "The option `${showLoc loc}' is read-only, but it's set multiple times. Definition values:${showDefs userDefs}"
        else value1;
    in {
      inherit value;
      option = decl // {
        inherit value loc;
        isDefined = merged.isDefined;
        files = map (d: d.file) merged.defsFinal;
        definitions = map (d: d.value) merged.defsFinal;
        definitionsWithLocations = merged.defsFinal;
        highestPrio = merged.highestPrio;
        _type = "option";
      };
    };

  # The options every evaluation has.
  internalModule = {
    _file = "<strata module system>";
    options._module.args = lib.mkOption {
      type = lib.types.lazyAttrsOf lib.types.raw;
      default = { };
      description = "Arguments passed to every module (as `pkgs' and the like).";
      internal = true;
    };
    options._module.check = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether definitions of undeclared options are errors.";
      internal = true;
    };
  };

  evalModules = { modules, specialArgs ? { }, prefix ? [ ], args ? { } }:
    let
      moduleArgs = { inherit lib config options; } // args // specialArgs;
      collected = collectModules moduleArgs ([ internalModule ] ++ modules);
      tree = mergeOptionTrees prefix (map (m: { file = m._file; inherit (m) options; }) collected);
      defs = concatMap (m: map (v: { file = m._file; value = v; }) (pushDown m.config)) collected;
      result = evalTree prefix tree defs;
      options = result.options;
      check = if result.config._module.check && result.unmatched != [ ] then throw (head result.unmatched) else true;
      config = builtins.seq check result.config;
    in {
      inherit options config;
      _module = config._module;
    };
in
{
  inherit evalModules mergeDefinitions showValue;
  showDefinitions = showDefs;
  levenshtein = a: b:
    let
      ca = lib.stringToCharacters a;
      cb = lib.stringToCharacters b;
      lb = length cb;
      row0 = builtins.genList (j: j) (lb + 1);
      step = prev: i: x:
        builtins.foldl' (row: j:
          row ++ [ (lib.min (lib.min (builtins.elemAt prev (j + 1) + 1) (builtins.elemAt row j + 1))
                   (builtins.elemAt prev j + (if x == builtins.elemAt cb j then 0 else 1))) ])
          [ (i + 1) ] (builtins.genList (j: j) lb);
      last = builtins.foldl' (prev: p: step prev p.i p.x) row0 (lib.imap0 (i: x: { inherit i x; }) ca);
    in builtins.elemAt last lb;
}
