# lib.derivations: what lazyDerivation leaves unevaluated (the reference's examples),
# optionalDrvAttr and warnOnInstantiate.
let
  lib = import ../lib;
  derivation = throw "This won't be evaluated.";
  real = {
    type = "derivation"; name = "hello-2.10"; outputs = [ "out" ]; outputName = "out";
    outPath = "/nix/store/00000000000000000000000000000000-hello-2.10";
    drvPath = "/nix/store/00000000000000000000000000000000-hello-2.10.drv";
    system = "x86_64-linux";
  };
in
[
  (lib.lazyDerivation { inherit derivation; }).type
  (builtins.attrNames (lib.lazyDerivation { inherit derivation; }))
  (lib.lazyDerivation { inherit derivation; } // { foo = true; }).foo
  (lib.lazyDerivation { inherit derivation; meta.foo = true; }).meta
  (lib.lazyDerivation { derivation = real; }).outPath
  (builtins.tryEval (lib.lazyDerivation { derivation = real; outputs = [ "out" "dev" ]; }).outPath).success
  (lib.optionalDrvAttr true "x")
  (lib.optionalDrvAttr false "x")
  (builtins.attrNames (lib.warnOnInstantiate "do not use" real))
  (lib.warnOnInstantiate "do not use" real).name
  lib.fakeHash
  (builtins.stringLength lib.fakeSha256)
  (builtins.stringLength lib.fakeSha512)
  (builtins.tryEval (lib.literalExpression 1)).success
]
