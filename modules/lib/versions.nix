# Version strings: their components as nixpkgs' `lib.versions` gives them.
{ lib }:
let
  inherit (builtins) splitVersion elemAt length;
  component = i: v:
    let parts = splitVersion v; in
    if length parts > i then elemAt parts i
    else throw "lib.versions: version ${builtins.toJSON v} has no component ${toString i}";
in
{
  versions = {
    inherit splitVersion;
    major = component 0;
    minor = component 1;
    patch = component 2;
    majorMinor = v: builtins.concatStringsSep "." (lib.take 2 (splitVersion v));
    # The first `n` numeric components, padded with zeros; a suffix after `-` stays.
    pad = n: version:
      let
        numeric = builtins.head (lib.splitString "-" version);
        suffix = lib.removePrefix numeric version;
      in builtins.concatStringsSep "." (lib.take n (splitVersion numeric ++ builtins.genList (_: "0") n)) + suffix;
  };
  inherit splitVersion;
  versionOlder = v1: v2: builtins.compareVersions v2 v1 == 1;
  versionAtLeast = v1: v2: !(lib.versionOlder v1 v2);
}
