# The Debian package set of a lock file.
#
# `lock` is strata.lock as a Nix value (the builder makes it with `pkgs::lock_to_nix_json`):
#
#   { suite; architecture;
#     packages = [ { name; version; architecture; filename; size; sha256; depends = [ ... ]; } ]; }
#
# The result maps every package name to the derivation that unpacks its `.deb`
# (`builtin:unpack-deb`), and `debs.<name>` to the fixed-output derivation that fetches the
# `.deb` (`builtin:fetchurl` from `mirror://debian/<filename>`, which the builder resolves with
# STRATA_DEBIAN_MIRROR, so no `.drv` names a host). A `.deb`'s store path is the one
# `strata lock fetch` makes: the same name (its file name, made a valid store name) and hash.
#
# Each package also carries `pname`, `version`, `architecture`, `deb` (its fetch derivation) and
# `depends` (the packages the lock chose for its relations), which are not part of the `.drv`.
{ lock }:
let
  inherit (builtins) listToAttrs map split isString concatStringsSep substring stringLength;

  # Every character a store path name cannot hold becomes `_` (allowed: letters, digits and
  # `+-._?=`), and so does a leading `.`.
  storeName = s:
    let
      parts = split "[^A-Za-z0-9+._?=-]" s;
      replaced = concatStringsSep "" (map (p: if isString p then p else "_") parts);
    in
    if substring 0 1 replaced == "."
    then "_" + substring 1 (stringLength replaced - 1) replaced
    else replaced;

  baseName = path: let parts = split "/" path; in builtins.elemAt parts (builtins.length parts - 1);

  fetchDeb = p: derivation {
    name = storeName (baseName p.filename);
    system = "builtin";
    builder = "builtin:fetchurl";
    url = "mirror://debian/${p.filename}";
    outputHash = p.sha256;
    outputHashAlgo = "sha256";
    outputHashMode = "flat";
  };

  debs = listToAttrs (map (p: { inherit (p) name; value = fetchDeb p; }) lock.packages);

  unpack = p:
    derivation {
      name = storeName "${p.name}-${p.version}";
      system = "builtin";
      builder = "builtin:unpack-deb";
      deb = debs.${p.name};
    }
    // {
      pname = p.name;
      inherit (p) version architecture;
      deb = debs.${p.name};
      depends = map (d: packages.${d}) p.depends;
    };

  packages = listToAttrs (map (p: { inherit (p) name; value = unpack p; }) lock.packages);
in
packages // { inherit debs; }
