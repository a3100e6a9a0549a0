# The Debian package set: every package of the suite strata.lock pins.
#
# `records` maps every package name to its line of the digest (builder/src/debian/digest.rs): a
# JSON object with `name`, `version`, `architecture`, `component`, `filename`, `size`,
# `sha256`, `depends` (the names chosen for its Pre-Depends and Depends), `essential`,
# `priority` and, when one of its relations cannot be satisfied, `broken`. A record is decoded
# only when its package is used, so the whole suite costs nothing until a name is touched.
# `lock` is `{ suite; architecture; }`.
#
# The result maps every package name to the derivation that unpacks its `.deb`
# (`builtin:unpack-deb`), and `debs.<name>` to the fixed-output derivation that fetches the
# `.deb` (`builtin:fetchurl` from `mirror://debian/<filename>`, which the builder resolves with
# STRATA_DEBIAN_MIRROR, so no `.drv` names a host). A `.deb`'s store path is the one
# `strata lock fetch` makes: the same name (its file name, made a valid store name) and hash.
#
# Each package also carries `pname`, `version`, `architecture`, `component`, `essential`,
# `priority`, `deb` (its fetch derivation) and `depends` (the packages chosen for its
# relations), which are not part of the `.drv`. Using a broken package is an error that says
# why it is broken.
{ lock, records }:
let
  inherit (builtins) map split isString concatStringsSep substring stringLength fromJSON mapAttrs;

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

  fetchDeb = r: derivation {
    name = storeName (baseName r.filename);
    system = "builtin";
    builder = "builtin:fetchurl";
    url = "mirror://debian/${r.filename}";
    outputHash = r.sha256;
    outputHashAlgo = "sha256";
    outputHashMode = "flat";
  };

  mkDeb = name: line:
    let
      r = fromJSON line;
      deb = fetchDeb r;
      drv = derivation {
        name = storeName "${r.name}-${r.version}";
        system = "builtin";
        builder = "builtin:unpack-deb";
        inherit deb;
        # The unpacked tree's layout: 2 keeps DEBIAN/ (control, maintainer scripts,
        # strata-modes) for the usr-merged tree.
        unpackVersion = "2";
      };
      unusable = throw "pkgs.${name} cannot be used: ${r.broken or ""}";
      base =
        if r ? broken then {
          type = "derivation";
          name = storeName "${r.name}-${r.version}";
          outPath = unusable;
          drvPath = unusable;
          outputs = [ "out" ];
        } else drv;
    in
    base // {
      pname = r.name;
      inherit (r) version architecture component essential priority;
      inherit deb;
      depends = map (d: packages.${d}) r.depends;
    };

  packages = mapAttrs mkDeb records;
in
packages // { debs = mapAttrs (n: p: p.deb) packages; }
