# Wrappers of derivations that stay lazy or warn: nixpkgs' `lib.derivations`.
{ lib }:
let
  derivations = {
    # A derivation whose attribute names, `type`, and (when given) `meta` and `passthru` are
    # known without evaluating `derivation`; the rest evaluates it (and checks it is one, with
    # the `outputs` assumed).
    lazyDerivation = { derivation, meta ? null, passthru ? { }, outputs ? [ "out" ] }:
      let
        checked =
          lib.throwIfNot ((derivation.type or null) == "derivation") "lazyDerivation: input must be a derivation."
            (lib.throwIfNot (derivation.outputs == outputs)
              "lazyDerivation: The derivation ${derivation.name or "<unknown>"} has outputs that don't match the assumed outputs. Assumed outputs passed to lazyDerivation ${lib.generators.toPretty { multiline = false; } outputs}, actual outputs of the derivation ${lib.generators.toPretty { multiline = false; } derivation.outputs}"
              derivation);
      in
      {
        type = "derivation";
        inherit outputs;
        outPath = checked.outPath;
        outputName = checked.outputName;
        drvPath = checked.drvPath;
        name = checked.name;
        system = checked.system;
        meta = if meta != null then meta else checked.meta;
      }
      // lib.genAttrs outputs (o: checked.${o})
      // passthru;
    # `value` when `cond` holds, else null (which `derivation` leaves out of the environment).
    optionalDrvAttr = cond: value: if cond then value else null;
    # Instantiating (or building) the derivation warns; `meta`, `name` and `type`, which
    # searching reads, do not.
    warnOnInstantiate = msg: drv:
      drv // builtins.mapAttrs (_: lib.warn msg) (builtins.removeAttrs drv [ "meta" "name" "type" ]);
  };
in
derivations // { inherit derivations; }
