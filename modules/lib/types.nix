# Option types: what a definition must be, and how several definitions merge.
{ lib }:
let
  inherit (builtins) isAttrs isList isString isInt isFloat isBool isFunction isPath attrNames
    length head filter concatMap mapAttrs foldl' elem all listToAttrs;

  showLoc = loc: lib.concatStringsSep "." loc;

  # A type's description inside another's, as NixOS words it: in parentheses unless its
  # class (`noun`, `conjunction`, `composite`) reads well at that place.
  phrase = fits: t: if fits (t.descriptionClass or null) then t.description else "(${t.description})";
  noun = c: c == "noun";
  nounOrConj = c: c == "noun" || c == "conjunction";
  nounOrComposite = c: c == "noun" || c == "composite";
  fileNames = defs: lib.concatStringsSep " and " (map (d: toString d.file) defs);

  # One number of a dotted IPv4 address: 0 to 255, without leading zeros.
  octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
  # RFC 4291's text forms: eight groups, or fewer around one `::', the last two groups
  # possibly written as an IPv4 address.
  isIPv6 = x:
    let
      halves = lib.splitString "::" x;
      groups = h: if h == "" then [ ] else lib.splitString ":" h;
      all = builtins.concatLists (map groups halves);
      v4 = all != [ ] && builtins.match "${octet}([.]${octet}){3}" (lib.last all) != null;
      hex = if v4 then lib.init all else all;
      width = builtins.length hex + (if v4 then 2 else 0);
    in
      builtins.length halves <= 2
      && builtins.all (g: builtins.match "[0-9A-Fa-f]{1,4}" g != null) hex
      && (if builtins.length halves == 1 then width == 8 else width <= 7);

  mkOptionType = { name, description ? name, check ? (x: true), merge ? mergeDefault, ... }@attrs:
    { _type = "option-type"; inherit name description check merge; } // removeAttrs attrs [ "name" "description" "check" "merge" ];
  noun' = attrs: mkOptionType (attrs // { descriptionClass = "noun"; });

  # One value, however often it is defined, as long as every definition agrees.
  mergeEqual = loc: defs:
    let first = head defs; in
    if all (d: d.value == first.value) defs then first.value
    else throw "The option `${showLoc loc}` is defined both in ${fileNames (lib.take 1 defs)} and ${fileNames (filter (d: d.value != first.value) defs)}.${lib.showDefinitions defs}";

  # Exactly one definition.
  mergeOne = loc: defs:
    if length defs == 1 then (head defs).value
    else throw "The option `${showLoc loc}` is defined multiple times, in ${fileNames defs}, but it takes exactly one definition.${lib.showDefinitions defs}";

  mergeDefault = loc: defs:
    let values = map (d: d.value) defs; in
    if length defs == 1 then (head defs).value
    else if all isList values then builtins.concatLists values
    else if all isAttrs values && !(builtins.any lib.isDerivation values) then foldl' (a: b: a // b) { } values
    else if all isBool values then builtins.any (x: x) values
    else if all isString values then lib.concatStrings values
    # Functions merge into one whose result merges theirs.
    else if all isFunction values then x: mergeDefault loc (map (d: d // { value = d.value x; }) defs)
    else mergeEqual loc defs;

  isStorePath = x: isString x && lib.hasPrefix "${builtins.storeDir}/" x;

  int = noun' { name = "int"; description = "signed integer"; check = isInt; merge = mergeEqual; };
  intBetween = lo: hi: desc: int // {
    name = "intBetween";
    description = desc;
    check = x: isInt x && x >= lo && x <= hi;
  };
  # The fixed-size integers: NixOS names the size, then the range.
  sized = lo: hi: what: intBetween lo hi "${what}; between ${toString lo} and ${toString hi} (both inclusive)";
  number = noun' { name = "number"; description = "signed integer or floating point number"; check = x: isInt x || isFloat x; merge = mergeEqual; };

  types = rec {
    inherit mkOptionType isStorePath;
    inherit mergeEqual mergeOne mergeDefault;

    unspecified = noun' { name = "unspecified"; description = "unspecified value"; };
    raw = noun' { name = "raw"; description = "raw value"; merge = mergeOne; };
    anything = noun' {
      name = "anything";
      description = "anything";
      merge = loc: defs:
        let values = map (d: d.value) defs; in
        if length defs == 1 then (head defs).value
        else if all isAttrs values && !(builtins.any lib.isDerivation values) then
          mapAttrs (n: ds: anything.merge (loc ++ [ n ]) ds)
            (builtins.zipAttrsWith (n: vs: vs) (map (d: mapAttrs (n: v: { inherit (d) file; value = v; }) d.value) defs))
        else if all isList values then builtins.concatLists values
        else mergeEqual loc defs;
    };
    bool = noun' { name = "bool"; description = "boolean"; check = isBool; merge = mergeEqual; };
    inherit int;
    ints = {
      unsigned = int // { name = "unsignedInt"; description = "unsigned integer, meaning >=0"; check = x: isInt x && x >= 0; };
      positive = int // { name = "positiveInt"; description = "positive integer, meaning >0"; check = x: isInt x && x > 0; };
      between = lo: hi: intBetween lo hi "integer between ${toString lo} and ${toString hi} (both inclusive)";
      u8 = sized 0 255 "8 bit unsigned integer";
      u16 = sized 0 65535 "16 bit unsigned integer";
      u32 = sized 0 4294967295 "32 bit unsigned integer";
      s8 = sized (-128) 127 "8 bit signed integer";
      s16 = sized (-32768) 32767 "16 bit signed integer";
      s32 = sized (-2147483648) 2147483647 "32 bit signed integer";
    };
    port = ints.u16 // { name = "port"; };
    numbers = {
      between = lo: hi: number // {
        name = "numberBetween";
        description = "integer or floating point number between ${toString lo} and ${toString hi} (both inclusive)";
        check = x: (isInt x || isFloat x) && x >= lo && x <= hi;
      };
      nonnegative = number // {
        name = "numberNonnegative";
        description = "nonnegative integer or floating point number, meaning >=0";
        check = x: (isInt x || isFloat x) && x >= 0;
      };
      positive = number // {
        name = "numberPositive";
        description = "positive integer or floating point number, meaning >0";
        check = x: (isInt x || isFloat x) && x > 0;
      };
    };
    boolByOr = noun' {
      name = "boolByOr";
      description = "boolean (merged using or)";
      check = isBool;
      merge = loc: defs: foldl' (r: d: r || d.value) false defs;
    };
    # An entry of /etc/passwd: no colon, no newline.
    passwdEntry = t: t // {
      name = "passwdEntry ${t.name}";
      description = "${phrase noun t}, not containing newlines or colons";
      descriptionClass = "noun";
      check = x: t.check x && !(lib.hasInfix ":" x || lib.hasInfix "\n" x);
    };
    shellPackage = package // {
      name = "shellPackage";
      description = "shell package";
      check = x: lib.isDerivation x && x ? shellPath;
    };
    # A path, absolute or relative, in the store or not, as `pathWith` is asked.
    pathWith = { inStore ? null, absolute ? null }:
      if inStore == true && absolute == false then throw "In pathWith, inStore means the path must be absolute"
      else noun' {
        name = "path";
        description =
          (if absolute == null then "" else if absolute then "absolute " else "relative ")
          + "path"
          + (if inStore == null then "" else if inStore then " in the Nix store" else " not in the Nix store");
        check = x:
          let
            s = toString x;
            stringLike = isPath x || isString x || (isAttrs x && x ? outPath);
            abs = lib.hasPrefix "/" s;
            stored = lib.hasPrefix "${builtins.storeDir}/" s && builtins.stringLength s > builtins.stringLength builtins.storeDir + 1;
          in stringLike
            && (absolute == null || abs == absolute)
            && (inStore == null || stored == inStore);
        merge = mergeEqual;
      };
    pathInStore = pathWith { inStore = true; };
    # A module, kept to be evaluated where the option's value is used (as `imports`).
    deferredModule = noun' {
      name = "deferredModule";
      description = "module";
      check = x: isAttrs x || isFunction x || isPath x || isString x;
      merge = loc: defs: {
        imports = map (d: { _file = "${toString d.file}, via option ${showLoc loc}"; imports = [ d.value ]; }) defs;
      };
    };
    # deferredModule whose value starts with `staticModules`.
    deferredModuleWith = { staticModules ? [ ] }: types.deferredModule // {
      merge = loc: defs: { imports = staticModules ++ (types.deferredModule.merge loc defs).imports; };
    };
    # `lib.generators.mkLuaInline` values.
    luaInline = noun' {
      name = "luaInline";
      description = "inline lua";
      check = x: (x._type or null) == "lua-inline";
      merge = mergeEqual;
    };
    pkgs = noun' {
      name = "pkgs";
      description = "Nixpkgs package set";
      check = x: (x._type or null) == "pkgs";
      merge = loc: defs:
        if length defs == 1 then (head defs).value
        else throw "A Nixpkgs pkgs set can not be merged with another pkgs set.\nThe option `${showLoc loc}` is defined multiple times, in ${fileNames defs}.";
    };
    # Option types themselves; several definitions must combine (submodules extend).
    optionType = noun' {
      name = "optionType";
      description = "optionType";
      check = x: (x._type or null) == "option-type";
      merge = loc: defs:
        foldl' (a: d:
          let m = mergeTypes a d.value; in
          if m == null then throw "The option `${showLoc loc}` has definitions of types that do not merge: `${a.description}` and `${d.value.description}`, in ${fileNames defs}." else m)
          (head defs).value (builtins.tail defs);
    };
    # A set with exactly one attribute, whose name picks the option (tag) its value is of.
    attrTag = tags:
      let choices = lib.concatMapStringsSep ", " (n: "`${n}`") (attrNames tags); in
      noun' {
        name = "attrTag";
        description = "attribute-tagged union";
        check = x: isAttrs x && length (attrNames x) == 1 && tags ? ${head (attrNames x)};
        merge = loc: defs:
          let
            tagOf = d: head (attrNames d.value);
            tag = tagOf (head defs);
            other = filter (d: tagOf d != tag) defs;
            opt = tags.${tag};
          in
          if other != [ ] then
            throw "The option `${showLoc loc}` is defined with different tags (`${tag}` and `${tagOf (head other)}`), in ${fileNames defs}; it takes one of ${choices}."
          else {
            ${tag} = (lib.mergeDefinitions (loc ++ [ tag ]) (opt.type or types.unspecified)
              (map (d: { inherit (d) file; value = d.value.${tag}; }) defs)).mergedValue;
          };
        nestedTypes = tags;
      };
    float = noun' { name = "float"; description = "floating point number"; check = isFloat; merge = mergeEqual; };
    inherit number;
    str = noun' { name = "str"; description = "string"; check = isString; merge = mergeEqual; };
    nonEmptyStr = str // { name = "nonEmptyStr"; description = "non-empty string"; check = x: isString x && builtins.match "[ \t\n]*" x == null; };
    singleLineStr = str // { name = "singleLineStr"; description = "(optionally newline-terminated) single-line string"; check = x: isString x && builtins.match "[^\n]*\n?" x != null; };
    strMatching = re: str // {
      name = "strMatching ${builtins.toJSON re}";
      description = "string matching the pattern ${re}";
      check = x: isString x && builtins.match re x != null;
    };
    separatedString = sep: noun' {
      name = "separatedString";
      description = if sep == "" then "concatenated string" else "strings concatenated with ${builtins.toJSON sep}";
      check = isString;
      merge = loc: defs: lib.concatStringsSep sep (map (d: d.value) defs);
    };
    lines = separatedString "\n" // { name = "lines"; };
    commas = separatedString "," // { name = "commas"; };
    envVar = separatedString ":" // { name = "envVar"; };
    path = noun' {
      name = "path";
      description = "path";
      check = x: isPath x || (isString x && lib.hasPrefix "/" x) || (isAttrs x && x ? outPath);
      merge = mergeEqual;
    };
    package = noun' {
      name = "package";
      description = "package";
      check = x: lib.isDerivation x || isStorePath x;
      merge = mergeOne;
    };
    attrs = noun' { name = "attrs"; description = "attribute set"; check = isAttrs; merge = loc: defs: foldl' (a: d: a // d.value) { } defs; };
    enum = values: mkOptionType {
      name = "enum";
      description =
        let show = v: if isString v then ''"${v}"'' else if isInt v then toString v else if isBool v then lib.boolToString v else "<${builtins.typeOf v}>"; in
        if values == [ ] then "impossible (empty enum)"
        else if length values == 1 then "value ${show (head values)} (singular enum)"
        else "one of ${lib.concatMapStringsSep ", " show values}";
      descriptionClass = if length values < 2 then "noun" else "conjunction";
      check = x: elem x values;
      merge = mergeEqual;
      functor = { inherit values; };
      typeMerge = other: if other.name == "enum" then enum (lib.unique (values ++ other.functor.values)) else null;
    };
    nullOr = t: mkOptionType {
      name = "nullOr";
      description = "null or ${phrase nounOrConj t}";
      descriptionClass = "conjunction";
      check = x: x == null || t.check x;
      merge = loc: defs:
        let nulls = filter (d: d.value == null) defs; in
        if length nulls == length defs then null
        else if nulls != [ ] then throw "The option `${showLoc loc}` is defined both null and not null, in ${fileNames defs}."
        else t.merge loc defs;
      nestedTypes.elemType = t;
      typeMerge = other: if other.name == "nullOr" then let m = mergeTypes t other.nestedTypes.elemType; in if m == null then null else nullOr m else null;
    };
    either = a: b: mkOptionType {
      name = "either";
      description = "${phrase nounOrConj a} or ${phrase (c: nounOrConj c || c == "composite") b}";
      descriptionClass = "conjunction";
      check = x: a.check x || b.check x;
      merge = loc: defs:
        if all (d: a.check d.value) defs then a.merge loc defs
        else if all (d: b.check d.value) defs then b.merge loc defs
        else mergeEqual loc defs;
    };
    oneOf = ts:
      if ts == [ ] then throw "types.oneOf needs at least one type"
      else foldl' either (head ts) (builtins.tail ts);
    uniq = t: t // { merge = mergeOne; };
    unique = { message }: t: t // { merge = loc: defs: if length defs == 1 then (head defs).value else throw "${message}\nThe option `${showLoc loc}` is defined multiple times, in ${fileNames defs}."; };
    addCheck = t: f: t // { check = x: t.check x && f x; };
    coercedTo = from: f: to: mkOptionType {
      name = "coercedTo";
      description = "${phrase noun to} or ${phrase noun from} convertible to it";
      check = x: to.check x || from.check x;
      merge = loc: defs: to.merge loc (map (d: d // { value = if to.check d.value then d.value else f d.value; }) defs);
    };
    functionTo = t: mkOptionType {
      name = "functionTo";
      description = "function that evaluates to a(n) ${phrase nounOrComposite t}";
      descriptionClass = "composite";
      check = isFunction;
      merge = loc: defs: x: t.merge loc (map (d: d // { value = d.value x; }) defs);
    };
    listOf = t: mkOptionType {
      name = "listOf";
      description = "list of ${phrase nounOrComposite t}";
      descriptionClass = "composite";
      check = isList;
      merge = loc: defs:
        concatMap (x: if x ? value then [ x.value ] else [ ])
          (concatMap (d: lib.imap1 (i: v:
              (lib.mergeDefinitions (loc ++ [ "[definition of ${toString d.file}, entry ${toString i}]" ]) t [ { inherit (d) file; value = v; } ]).optionalValue)
            d.value) defs);
      nestedTypes.elemType = t;
      getSubOptions = prefix: t.getSubOptions or (_: { }) (prefix ++ [ "*" ]);
      typeMerge = other: if other.name == "listOf" then let m = mergeTypes t other.nestedTypes.elemType; in if m == null then null else listOf m else null;
    };
    nonEmptyListOf = t: listOf t // { description = "non-empty ${phrase noun (listOf t)}"; check = x: isList x && x != [ ]; };
    attrsOf = t: attrsOfWith false null t;
    # nixpkgs' `attrsWith { elemType, lazy ? false, placeholder ? "name" }`.
    attrsWith = { elemType, lazy ? false, placeholder ? "name" }: attrsOfWith lazy null elemType;
    lazyAttrsOf = t: attrsOfWith true null t;
    loaOf = attrsOf;

    # Names and paths that end up in files the system reads (passwd, the boot menu, unit
    # and log file names, /etc): every module that writes one takes it through one of these
    # types, so a value that would escape its directory or add a line is refused where it is
    # defined, by `eval-config` and `build` alike. Later modules (interfaces, wrappers, PAM
    # services, sudo rules, SSH keys) use them too, or add their own here.

    # A user or group name as Debian's adduser and NixOS accept it.
    passwdName = str // {
      name = "passwdName";
      description = "user or group name (at most 32 characters: a lower-case letter or `_', then lower-case letters, digits, `_' and `-', and an optional final `$')";
      check = x: isString x && builtins.stringLength x <= 32 && builtins.match "[a-z_][a-z0-9_-]*[$]?" x != null;
    };
    # A field of a passwd line (the full name): no colon, no newline.
    passwdField = str // {
      name = "passwdField";
      description = "string without colons, newlines or other control characters";
      check = x: isString x && builtins.match "[^:[:cntrl:]]*" x != null;
    };
    # An absolute path with no `.` or `..` component and no newline.
    absolutePath = str // {
      name = "absolutePath";
      description = "absolute path (starting with `/', without `.' or `..' components, newlines or other control characters)";
      check = x: isString x && lib.hasPrefix "/" x && builtins.match "[^[:cntrl:]]*" x != null
        && !(builtins.elem "." (lib.splitString "/" x)) && !(builtins.elem ".." (lib.splitString "/" x));
    };
    # An absolute path that is also a passwd field (home directories, login shells).
    passwdPath = absolutePath // {
      name = "passwdPath";
      description = "absolute path (starting with `/', without `.' or `..' components, colons or newlines)";
      check = x: absolutePath.check x && passwdField.check x;
    };
    # A path below a directory (the name of a file in /etc): relative, every component a name.
    relativePath = str // {
      name = "relativePath";
      description = "relative path (not starting with `/', without empty, `.' or `..' components, newlines or other control characters)";
      check = x: isString x && builtins.match "[^[:cntrl:]]+" x != null && !(lib.hasPrefix "/" x)
        && builtins.all (c: c != "" && c != "." && c != "..") (lib.splitString "/" x);
    };
    # A service (unit) name: it names log files and state directories.
    unitName = str // {
      name = "unitName";
      description = "unit name (at most 255 letters, digits and `:_.@-', not `.' or `..')";
      check = x: isString x && builtins.stringLength x <= 255 && x != "." && x != ".."
        && builtins.match "[A-Za-z0-9:_.@-]+" x != null;
    };
    # One parameter of the kernel command line: no whitespace, which would split it.
    kernelParam = str // {
      name = "kernelParam";
      description = "kernel parameter (a non-empty string without whitespace or control characters)";
      check = x: isString x && builtins.match "[^[:space:][:cntrl:]]+" x != null;
    };
    # A word of a line-based file (a mount option, a device in the initrd's configuration):
    # no whitespace, which would split it, and no control character.
    word = str // {
      name = "word";
      description = "non-empty string without whitespace or control characters";
      check = x: isString x && builtins.match "[^[:space:][:cntrl:]]+" x != null;
    };
    # A file system type, as mount(8) and the initrd's configuration take it.
    fsTypeName = str // {
      name = "fsTypeName";
      description = "file system type (letters, digits and `._+-', like \"ext4\" or \"fuse.sshfs\")";
      check = x: isString x && builtins.match "[A-Za-z0-9._+-]+" x != null;
    };
    # Network addresses and interfaces (networking.*, the firewall, sshd's listen addresses).
    ipv4Address = str // {
      name = "ipv4Address";
      description = "IPv4 address (four decimal numbers from 0 to 255, separated by dots)";
      check = x: isString x && builtins.match "${octet}([.]${octet}){3}" x != null;
    };
    ipv6Address = str // {
      name = "ipv6Address";
      description = "IPv6 address (up to eight groups of 1 to 4 hex digits separated by `:', one `::' at most, optionally ending in an IPv4 address)";
      check = x: isString x && isIPv6 x;
    };
    ipAddress = str // {
      name = "ipAddress";
      description = "IPv4 or IPv6 address";
      check = x: ipv4Address.check x || ipv6Address.check x;
    };
    # A Linux network interface name (the kernel's dev_valid_name: 1 to 15 bytes, not `.' or
    # `..', no `/', `:' or white space), without the `"' and `\' nft's strings cannot hold, or
    # control characters. A trailing `*' is nft's wildcard (the firewall), as with NixOS.
    interfaceName = str // {
      name = "interfaceName";
      description = "network interface name (1 to 15 characters, not `.' or `..', without `/', `:', white space, quotes, backslashes or control characters)";
      check = x: isString x && builtins.stringLength x <= 15 && x != "." && x != ".."
        && builtins.match "[^/:\"\\\\[:space:][:cntrl:]]+" x != null;
    };
    # A kernel module's name.
    kernelModule = str // {
      name = "kernelModule";
      description = "kernel module name (letters, digits, `_' and `-')";
      check = x: isString x && builtins.match "[A-Za-z0-9_-]+" x != null;
    };
    # A time zone's name, which /etc/localtime points into the zone database by; whether
    # the zone exists is known only with the package set (the builder checks it).
    timeZone = str // {
      name = "timeZone";
      description = "time zone name (like \"Europe/Paris\")";
      check = x: isString x && builtins.match "[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*" x != null;
    };
    # An environment variable's name, written unquoted into shell scripts.
    envVarName = str // {
      name = "envVarName";
      description = "environment variable name (a letter or `_', then letters, digits and `_')";
      check = x: isString x && builtins.match "[A-Za-z_][A-Za-z0-9_]*" x != null;
    };

    # `attrsOf t` whose attribute names must be of type `nameType` (one of the types above).
    attrsNamedOf = nameType: t: attrsOfWith false nameType t;

    submoduleWith = { modules, specialArgs ? { }, shorthandOnlyDefinesConfig ? false, description ? null }:
      mkOptionType {
        name = "submodule";
        description = if description != null then description else "submodule";
        check = x: isAttrs x || isFunction x || isPath x;
        merge = loc: defs:
          (lib.evalModules {
            # With `shorthandOnlyDefinesConfig` (as `submodule` has), a set defined for it is
            # its config, even with an attribute named `options` (fileSystems.<name>.options).
            modules = modules ++ map (d:
              if shorthandOnlyDefinesConfig && isAttrs d.value
              then { _file = toString d.file; config = d.value; }
              else { _file = toString d.file; imports = [ d.value ]; }) defs;
            specialArgs = { name = lib.last loc; } // specialArgs;
            prefix = loc;
          }).config;
        getSubOptions = prefix:
          (lib.evalModules {
            inherit modules;
            specialArgs = { name = "<name>"; } // specialArgs;
            inherit prefix;
          }).options;
        functor = { inherit modules specialArgs shorthandOnlyDefinesConfig; };
        typeMerge = other:
          if other.name == "submodule" then submoduleWith {
            modules = modules ++ other.functor.modules;
            specialArgs = specialArgs // other.functor.specialArgs;
            shorthandOnlyDefinesConfig = shorthandOnlyDefinesConfig && other.functor.shorthandOnlyDefinesConfig;
          } else null;
      };
    submodule = m: submoduleWith { modules = lib.toList m; shorthandOnlyDefinesConfig = true; };
  };

  # Submodules given as functions or sets carry no file; the option that declares them does.
  withFile = file: t:
    if t.name == "submodule" then
      types.submoduleWith {
        modules = map (m: if builtins.isPath m || builtins.isString m then m else { _file = file; imports = [ m ]; }) t.functor.modules;
        specialArgs = t.functor.specialArgs;
        inherit (t.functor) shorthandOnlyDefinesConfig;
        description = t.description;
      }
    else if t.name == "attrsOf" then attrsOfWith false (t.nestedTypes.nameType or null) (withFile file t.nestedTypes.elemType)
    else if t.name == "lazyAttrsOf" then types.lazyAttrsOf (withFile file t.nestedTypes.elemType)
    else if t.name == "listOf" then types.listOf (withFile file t.nestedTypes.elemType)
    else if t.name == "nullOr" then types.nullOr (withFile file t.nestedTypes.elemType)
    else t;

  # Two declarations of one option may give types that combine (submodules extend).
  mergeTypes = a: b:
    if a.name == b.name && a ? typeMerge then a.typeMerge b
    else if a.name == b.name && a.description == b.description then a
    else null;

  # Attribute sets of `t`; with `nameType`, every attribute name must be of that type.
  attrsOfWith = lazy: nameType: t: mkOptionType {
    name = if lazy then "lazyAttrsOf" else "attrsOf";
    description = "${if lazy then "lazy " else ""}attribute set of ${phrase nounOrComposite t}";
    descriptionClass = "composite";
    check = isAttrs;
    merge = loc: defs:
      let
        # Each definition's attributes, with properties pushed down from the set itself.
        perAttr = builtins.zipAttrsWith (n: vs: vs)
          (map (d: mapAttrs (n: v: { inherit (d) file; value = v; }) d.value) defs);
        badNames = if nameType == null then [ ] else filter (n: !(nameType.check n)) (attrNames perAttr);
        bad = head badNames;
        merged = mapAttrs (n: ds: lib.mergeDefinitions (loc ++ [ n ]) t ds) perAttr;
      in
        if badNames != [ ] then
          throw "The option `${showLoc loc}` has an attribute named ${builtins.toJSON bad}, which is not of type `${nameType.description}`. It is defined in ${fileNames perAttr.${bad}}."
        else if lazy then mapAttrs (n: m: m.mergedValue) merged
        else mapAttrs (n: m: m.optionalValue.value)
          (lib.filterAttrs (n: m: m.optionalValue ? value) merged);
    nestedTypes = { elemType = t; } // (if nameType == null then { } else { inherit nameType; });
    getSubOptions = prefix: t.getSubOptions or (_: { }) (prefix ++ [ "<name>" ]);
    typeMerge = other:
      if other.name == (if lazy then "lazyAttrsOf" else "attrsOf") then
        let m = mergeTypes t other.nestedTypes.elemType; in if m == null then null else attrsOfWith lazy nameType m
      else null;
  };
in
types // { inherit withFile; }
