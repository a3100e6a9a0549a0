# The generation's usr-merged tree: `builtin:strata-usr` over a list of packages (the unpacked
# Debian packages of `pkgs`, or any store path), joined as the machine's /usr and /etc
# (`builder/src/userspace/`: merged /bin and /lib, hard links, collisions, alternatives, the
# loader cache, the CA bundle).
#
#   import ./usr-tree.nix {
#     packages = [ pkgs.bash pkgs.coreutils ... ];   # the whole closure: nothing is added
#     alternatives = { editor = "/usr/bin/vim.basic"; };      # name -> chosen path
#     collisions = { "/usr/bin/foo" = "a"; };                  # path -> winning package
#     allowConflicts = [ [ "a" "b" ] ];                        # accepted Conflicts pairs
#     strictLibraries = false;     # true: an ELF file missing a library fails the build
#     extraLdSoConf = "";          # more ld.so.conf lines for the loader cache
#   }
#
# The packages are passed sorted by store path and without duplicates, so the same set in any
# order makes the same derivation.
{ name ? "system-usr"
, packages
, alternatives ? { }
, collisions ? { }
, allowConflicts ? [ ]
, strictLibraries ? false
, extraLdSoConf ? ""
}:
let
  inherit (builtins) listToAttrs attrNames map concatStringsSep toJSON toString
    unsafeDiscardStringContext;

  # Keyed by store path (an attribute name holds no context): duplicates collapse, and
  # attrNames gives them sorted.
  byPath = listToAttrs (map
    (p: { name = unsafeDiscardStringContext (toString p); value = p; })
    packages);
  sorted = map (path: byPath.${path}) (attrNames byPath);
in
derivation {
  inherit name extraLdSoConf;
  system = "builtin";
  builder = "builtin:strata-usr";
  # Interpolation keeps each package's string context: they become the inputs.
  packages = concatStringsSep " " (map (p: "${p}") sorted);
  alternatives = toJSON alternatives;
  collisions = toJSON collisions;
  allowConflicts = toJSON allowConflicts;
  strictLibraries = if strictLibraries then "1" else "";
}
