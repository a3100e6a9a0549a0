# Software licenses as data (`lib.licenses`), with nixpkgs' attribute names and fields: the
# free software licenses packages commonly carry and the unfree markers.
{ lib }:
let
  spdx = spdxId: fullName: { inherit spdxId fullName; url = "https://spdx.org/licenses/${spdxId}.html"; };
  # Every license has these fields; `redistributable` follows `free` unless given.
  complete = shortName: l:
    { inherit shortName; free = true; deprecated = false; }
    // l // { redistributable = l.redistributable or (l.free or true); };
  licenses = builtins.mapAttrs complete {
    agpl3Only = spdx "AGPL-3.0-only" "GNU Affero General Public License v3.0 only";
    agpl3Plus = spdx "AGPL-3.0-or-later" "GNU Affero General Public License v3.0 or later";
    artistic2 = spdx "Artistic-2.0" "Artistic License 2.0";
    asl20 = spdx "Apache-2.0" "Apache License 2.0";
    boost = spdx "BSL-1.0" "Boost Software License 1.0";
    bsd0 = spdx "0BSD" "BSD Zero Clause License";
    bsd2 = spdx "BSD-2-Clause" ''BSD 2-clause "Simplified" License'';
    bsd3 = spdx "BSD-3-Clause" ''BSD 3-clause "New" or "Revised" License'';
    bsdOriginal = spdx "BSD-4-Clause" ''BSD 4-clause "Original" or "Old" License'';
    bsl11 = spdx "BUSL-1.1" "Business Source License 1.1" // { free = false; redistributable = true; };
    cc0 = spdx "CC0-1.0" "Creative Commons Zero v1.0 Universal";
    cc-by-40 = spdx "CC-BY-4.0" "Creative Commons Attribution 4.0";
    cc-by-sa-40 = spdx "CC-BY-SA-4.0" "Creative Commons Attribution Share Alike 4.0";
    curl = spdx "curl" "curl License";
    epl20 = spdx "EPL-2.0" "Eclipse Public License 2.0";
    gpl2Only = spdx "GPL-2.0-only" "GNU General Public License v2.0 only";
    gpl2Plus = spdx "GPL-2.0-or-later" "GNU General Public License v2.0 or later";
    gpl3Only = spdx "GPL-3.0-only" "GNU General Public License v3.0 only";
    gpl3Plus = spdx "GPL-3.0-or-later" "GNU General Public License v3.0 or later";
    isc = spdx "ISC" "ISC License";
    lgpl21Only = spdx "LGPL-2.1-only" "GNU Lesser General Public License v2.1 only";
    lgpl21Plus = spdx "LGPL-2.1-or-later" "GNU Lesser General Public License v2.1 or later";
    lgpl3Only = spdx "LGPL-3.0-only" "GNU Lesser General Public License v3.0 only";
    lgpl3Plus = spdx "LGPL-3.0-or-later" "GNU Lesser General Public License v3.0 or later";
    mit = spdx "MIT" "MIT License";
    mpl20 = spdx "MPL-2.0" "Mozilla Public License 2.0";
    ncsa = spdx "NCSA" "University of Illinois/NCSA Open Source License";
    openssl = spdx "OpenSSL" "OpenSSL License";
    postgresql = spdx "PostgreSQL" "PostgreSQL License";
    psfl = spdx "Python-2.0" "Python Software Foundation License version 2";
    sspl = spdx "SSPL-1.0" "Server Side Public License" // { free = false; };
    unlicense = spdx "Unlicense" "The Unlicense";
    vim = spdx "Vim" "Vim License";
    wtfpl = spdx "WTFPL" "Do What The F*ck You Want To Public License";
    zlib = spdx "Zlib" "zlib License";
    free = { fullName = "Unspecified free software license"; };
    publicDomain = { fullName = "Public Domain"; };
    unfree = { fullName = "Unfree"; free = false; };
    unfreeRedistributable = { fullName = "Unfree redistributable"; free = false; redistributable = true; };
    unfreeRedistributableFirmware = { fullName = "Unfree redistributable firmware"; free = false; redistributable = true; };
  };
  # SPDX identifiers, compared without case, to licenses.
  bySpdx = builtins.listToAttrs (map (l: { name = lib.toLower l.spdxId; value = l; })
    (builtins.filter (l: l ? spdxId) (builtins.attrValues licenses)));
in
{
  inherit licenses;
  getLicenseFromSpdxIdOr = id: default: bySpdx.${lib.toLower id} or default;
  getLicenseFromSpdxId = id:
    lib.getLicenseFromSpdxIdOr id
      (lib.warn "getLicenseFromSpdxId: No license matches the given SPDX ID: ${id}" { shortName = id; });
}
