# Fixed points and extensions (overlays): nixpkgs' `lib.fixedPoints`.
{ lib }:
let
  fix' = f: let x = f x // { __unfix__ = f; }; in x;
  # `overlay` applied on top of the function `f` of the final value.
  extends = overlay: f: final: let prev = f final; in prev // overlay final prev;
  composeExtensions = f: g: final: prev:
    let fApplied = f final prev; in fApplied // g final (prev // fApplied);
  makeExtensibleWithCustomName = extenderName: rattrs:
    fix' (self: rattrs self // {
      ${extenderName} = f: makeExtensibleWithCustomName extenderName (extends f rattrs);
    });
in
{
  inherit fix' extends composeExtensions makeExtensibleWithCustomName;
  converge = f: x: let x' = f x; in if x' == x then x else lib.converge f x';
  composeManyExtensions = lib.foldr composeExtensions (final: prev: { });
  makeExtensible = makeExtensibleWithCustomName "extend";
  # A function of `prev`, of `final` and `prev`, or a plain set, as an extension.
  toExtension = f:
    if builtins.isFunction f then
      final: prev: let fPrev = f prev; in if builtins.isFunction fPrev then f final prev else fPrev
    else final: prev: f;
  fixedPoints = { inherit (lib) fix fix' extends composeExtensions composeManyExtensions makeExtensible makeExtensibleWithCustomName converge toExtension; };
}
