# lib.licenses as data, and SPDX identifiers to licenses.
let lib = import ../lib; in
[
  lib.licenses.mit
  (builtins.removeAttrs lib.licenses.unfree [ ])
  lib.licenses.unfreeRedistributableFirmware.redistributable
  (lib.getLicenseFromSpdxId "MIT").shortName
  (lib.getLicenseFromSpdxId "gpl-3.0-or-later").shortName
  (lib.getLicenseFromSpdxIdOr "No-Such-License" null)
  (lib.getLicenseFromSpdxId "OFL-1.1").shortName
  (lib.getLicenseFromSpdxId "mit-0").shortName
  lib.licenses.cc-by-nc-40.free
  lib.licenses.eupl12.url
  (builtins.all (l: l ? fullName && l ? free && l ? redistributable && l ? shortName) (builtins.attrValues lib.licenses))
]
