# GVariant values in GLib's text format (what dconf's keyfiles hold): nixpkgs'
# `lib.gvariant` (`lib.generators.toDconfINI` writes them). A value is a set with `_type =
# "gvariant"`, its GVariant `type` string, its `value`, and `__toString` giving its text.
{ lib }:
let
  inherit (builtins) isBool isFloat isString isList isInt isAttrs head all;

  type = {
    arrayOf = t: "a${t}";
    maybeOf = t: "m${t}";
    tupleOf = ts: "(${lib.concatStrings ts})";
    dictionaryEntryOf = nameType: valueType: "{${nameType}${valueType}}";
    string = "s";
    boolean = "b";
    uchar = "y";
    int16 = "n";
    uint16 = "q";
    int32 = "i";
    uint32 = "u";
    int64 = "x";
    uint64 = "t";
    double = "d";
    variant = "v";
  };

  isGVariant = v: (v._type or "") == "gvariant";

  # A value of type `t` written as `show value`; by default with its type annotated.
  value = t: v: show: { _type = "gvariant"; type = t; value = v; __toString = self: show self.value; };
  annotated = t: v: value t v (x: "@${t} ${toString x}");

  # Numbers whose GVariant type a Nix integer leaves open: the constructors it fits.
  intKinds = [
    { name = "byte"; fn = "mkUchar"; min = 0; max = 255; }
    { name = "int16"; fn = "mkInt16"; min = -32768; max = 32767; }
    { name = "uint16"; fn = "mkUint16"; min = 0; max = 65535; }
    { name = "int32"; fn = "mkInt32"; min = -2147483648; max = 2147483647; }
    { name = "uint32"; fn = "mkUint32"; min = 0; max = 4294967295; }
    { name = "int64"; fn = "mkInt64"; min = null; max = null; }
    { name = "uint64"; fn = "mkUint64"; min = 0; max = null; }
  ];

  mkValue = v:
    if isBool v then gvariant.mkBoolean v
    else if isFloat v then gvariant.mkDouble v
    else if isString v then gvariant.mkString v
    else if isList v then gvariant.mkArray v
    else if isGVariant v then v
    else if isInt v then
      let fits = builtins.filter (k: (k.min == null || k.min <= v) && (k.max == null || v <= k.max)) intKinds; in
      throw "The GVariant type for number “${toString v}” is unclear. Please wrap the value with one of the following, depending on the value type in GSettings schema:\n${lib.concatMapStringsSep "\n" (k: "- `lib.gvariant.${k.fn}` for `${k.name}`") fits}"
    else if isAttrs v then
      throw "Cannot construct GVariant value from an attribute set. If you want to construct a dictionary, you will need to create an array containing items constructed with `lib.gvariant.mkDictionaryEntry`."
    else throw "The GVariant type of “${builtins.typeOf v}” can't be inferred.";

  gvariant = {
    inherit type isGVariant mkValue;
    mkArray = elems:
      let
        vs = map mkValue (lib.throwIf (elems == [ ]) "Please create empty array with mkEmptyArray." elems);
        elemType = (head vs).type;
      in
      lib.throwIfNot (all (x: x.type == elemType) vs) "Elements in a list should have same type."
        (value (type.arrayOf elemType) vs (xs: "@${type.arrayOf elemType} [${lib.concatMapStringsSep "," toString xs}]"));
    mkEmptyArray = elemType: value (type.arrayOf elemType) [ ] (_: "@${type.arrayOf elemType} []");
    mkVariant = elem: value type.variant (mkValue elem) (x: "<${toString x}>");
    mkDictionaryEntry = name: v:
      let k = mkValue name; x = mkValue v; t = type.dictionaryEntryOf k.type x.type; in
      value t { inherit name; value = v; } (_: "@${t} {${toString k},${toString x}}");
    mkMaybe = elemType: elem:
      value (type.maybeOf elemType) elem
        (x: if x == null then "@${type.maybeOf elemType} nothing" else "just ${toString x}");
    mkNothing = elemType: gvariant.mkMaybe elemType null;
    mkJust = elem: let x = mkValue elem; in gvariant.mkMaybe x.type x;
    mkTuple = elems:
      let xs = map mkValue elems; t = type.tupleOf (map (x: x.type) xs); in
      value t xs (vs: "@${t} (${lib.concatMapStringsSep "," toString vs})");
    mkBoolean = v: value type.boolean v (b: if b then "true" else "false");
    mkString = v:
      value type.string v (s: "'${builtins.replaceStrings [ "\n" ] [ "\\n" ] (lib.escape [ "'" "\\" ] s)}'");
    mkObjectpath = v: value type.string v (s: "objectpath '${lib.escape [ "'" ] s}'");
    mkUchar = annotated type.uchar;
    mkInt16 = annotated type.int16;
    mkUint16 = annotated type.uint16;
    mkInt32 = v: value type.int32 v toString;
    mkUint32 = annotated type.uint32;
    mkInt64 = annotated type.int64;
    mkUint64 = annotated type.uint64;
    mkDouble = v: value type.double v toString;
  };

in
{
  inherit gvariant;
}
