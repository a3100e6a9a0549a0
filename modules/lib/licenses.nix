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
    afl21 = spdx "AFL-2.1" "Academic Free License v2.1";
    afl3 = spdx "AFL-3.0" "Academic Free License v3.0";
    apple-psl20 = spdx "APSL-2.0" "Apple Public Source License 2.0";
    artistic1 = spdx "Artistic-1.0" "Artistic License 1.0";
    beerware = spdx "Beerware" "Beerware License";
    bsd1 = spdx "BSD-1-Clause" "BSD 1-Clause License";
    bsd2Patent = spdx "BSD-2-Clause-Patent" "BSD-2-Clause Plus Patent License";
    bsd3Clear = spdx "BSD-3-Clause-Clear" "BSD 3-Clause Clear License";
    cc-by-30 = spdx "CC-BY-3.0" "Creative Commons Attribution 3.0";
    cc-by-sa-30 = spdx "CC-BY-SA-3.0" "Creative Commons Attribution Share Alike 3.0";
    cc-by-nc-40 = spdx "CC-BY-NC-4.0" "Creative Commons Attribution Non Commercial 4.0 International" // { free = false; };
    cc-by-nc-sa-40 = spdx "CC-BY-NC-SA-4.0" "Creative Commons Attribution Non Commercial Share Alike 4.0" // { free = false; };
    cc-by-nd-40 = spdx "CC-BY-ND-4.0" "Creative Commons Attribution-No Derivative Works v4.0" // { free = false; };
    cddl = spdx "CDDL-1.0" "Common Development and Distribution License 1.0";
    cpl10 = spdx "CPL-1.0" "Common Public License 1.0";
    elastic20 = spdx "Elastic-2.0" "Elastic License 2.0" // { free = false; };
    epl10 = spdx "EPL-1.0" "Eclipse Public License 1.0";
    eupl12 = spdx "EUPL-1.2" "European Union Public License 1.2";
    fdl12Only = spdx "GFDL-1.2-only" "GNU Free Documentation License v1.2 only";
    fdl12Plus = spdx "GFDL-1.2-or-later" "GNU Free Documentation License v1.2 or later";
    fdl13Only = spdx "GFDL-1.3-only" "GNU Free Documentation License v1.3 only";
    fdl13Plus = spdx "GFDL-1.3-or-later" "GNU Free Documentation License v1.3 or later";
    gpl1Only = spdx "GPL-1.0-only" "GNU General Public License v1.0 only";
    gpl1Plus = spdx "GPL-1.0-or-later" "GNU General Public License v1.0 or later";
    hpnd = spdx "HPND" "Historical Permission Notice and Disclaimer";
    lgpl2Only = spdx "LGPL-2.0-only" "GNU Library General Public License v2 only";
    lgpl2Plus = spdx "LGPL-2.0-or-later" "GNU Library General Public License v2 or later";
    libpng = spdx "Libpng" "libpng License";
    libtiff = spdx "libtiff" "libtiff License";
    mit0 = spdx "MIT-0" "MIT No Attribution";
    mpl11 = spdx "MPL-1.1" "Mozilla Public License 1.1";
    ofl = spdx "OFL-1.1" "SIL Open Font License 1.1";
    osl3 = spdx "OSL-3.0" "Open Software License 3.0";
    php301 = spdx "PHP-3.01" "PHP License v3.01";
    ruby = spdx "Ruby" "Ruby License";
    sleepycat = spdx "Sleepycat" "Sleepycat License";
    unicode-dfs-2016 = spdx "Unicode-DFS-2016" "Unicode License Agreement - Data Files and Software (2016)";
    upl = spdx "UPL-1.0" "Universal Permissive License 1.0";
    w3c = spdx "W3C" "W3C Software Notice and License";
    x11 = spdx "X11" "X11 License";
    zpl21 = spdx "ZPL-2.1" "Zope Public License 2.1";
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
