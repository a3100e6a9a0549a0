# Command lines from attribute sets, as nixpkgs' `lib.cli` writes them.
{ lib }:
let
  toGNUCommandLine =
    { mkOptionName ? (k: if builtins.stringLength k == 1 then "-${k}" else "--${k}")
    , mkBool ? (k: v: lib.optional v (mkOptionName k))
    , mkList ? null
    , mkOption ? null
    , optionValueSeparator ? null
    }:
    options:
    let
      option =
        if mkOption != null then mkOption
        else k: v:
          if v == null then [ ]
          else if optionValueSeparator == null then [ (mkOptionName k) (lib.generators.mkValueStringDefault { } v) ]
          else [ "${mkOptionName k}${optionValueSeparator}${lib.generators.mkValueStringDefault { } v}" ];
      list = if mkList != null then mkList else k: v: builtins.concatMap (option k) v;
      render = k: v:
        if builtins.isBool v then mkBool k v
        else if builtins.isList v then list k v
        else option k v;
    in builtins.concatMap (k: render k options.${k}) (builtins.attrNames options);
  # Options rendered as `optionFormat name` says: `{ option, sep, explicitBool, formatArg? }`.
  toCommandLine = optionFormat: attrs:
    let
      render = k: v:
        let
          f = optionFormat k;
          formatArg = f.formatArg or (lib.generators.mkValueStringDefault { });
        in
        if v == null || (!f.explicitBool && v == false) then [ ]
        else if !f.explicitBool && v == true then [ f.option ]
        else if f.sep != null then [ "${f.option}${f.sep}${formatArg v}" ]
        else [ f.option (formatArg v) ];
      pair = k: v:
        if k == "" then throw "lib.cli.toCommandLine only accepts non-empty option names."
        else if builtins.isList v then builtins.concatMap (render k) v
        else render k v;
    in builtins.concatMap (k: pair k attrs.${k}) (builtins.attrNames attrs);
  toCommandLineGNU =
    { isLong ? (name: builtins.stringLength name > 1)
    , explicitBool ? false
    , formatArg ? lib.generators.mkValueStringDefault { }
    }:
    toCommandLine (name: {
      option = if isLong name then "--${name}" else "-${name}";
      sep = if isLong name then "=" else "";
      inherit explicitBool formatArg;
    });
in
{
  cli = {
    inherit toGNUCommandLine toCommandLine toCommandLineGNU;
    toCommandLineShell = optionFormat: attrs: lib.escapeShellArgs (toCommandLine optionFormat attrs);
    toCommandLineShellGNU = options: attrs: lib.escapeShellArgs (toCommandLineGNU options attrs);
    toGNUCommandLineShell = options: attrs: lib.escapeShellArgs (toGNUCommandLine options attrs);
  };
}
