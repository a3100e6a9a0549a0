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
in
{
  cli = {
    inherit toGNUCommandLine;
    toGNUCommandLineShell = options: attrs: lib.escapeShellArgs (toGNUCommandLine options attrs);
  };
}
