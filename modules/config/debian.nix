# How the generation's Debian userspace is put together (strata's own options): the essential
# set, alternatives, files two packages both ship, conflicts, the loader's search path, and how
# strict the check of every program's libraries is.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  # Debian's rule for package names: lower-case letters, digits, `+`, `-`, `.`; two
  # characters at least, starting with a letter or digit.
  packageName = types.strMatching "[a-z0-9][a-z0-9+.-]+";
in
{
  options.environment.debian = {
    essential = mkOption {
      type = types.bool;
      default = true;
      description = "Whether the generation has Debian's `Essential: yes' packages (coreutils, dash, bash, grep, sed, tar, login, ...), which no Debian package names as a dependency because every Debian system has them. Without them only the packages named (and what they depend on) are installed.";
    };
    alternatives = mkOption {
      type = types.attrsOf types.absolutePath;
      default = { };
      example = { editor = "/usr/bin/vim.basic"; pager = "/usr/bin/less"; };
      description = "The choice of Debian alternatives (update-alternatives' names): name -> the path it points to. Without a choice, the candidate with the highest priority wins. A path that is not a candidate is a build error that lists them.";
    };
    collisions = mkOption {
      type = types.attrsOf packageName;
      default = { };
      example = { "/usr/bin/rename" = "rename"; };
      description = "For a file that two packages both ship (and Debian's Replaces does not settle), the package whose file the generation gets: path -> package name. An unsettled collision is a build error that names both packages.";
    };
    allowConflicts = mkOption {
      type = types.listOf (types.listOf packageName);
      default = [ ];
      example = [ [ "mawk" "original-awk" ] ];
      description = "Pairs of packages that may be installed together although one declares a Conflicts on the other.";
    };
    strictLibraries = mkOption {
      type = types.bool;
      default = false;
      description = "Whether a program or library of the generation's /usr that asks for a library the loader cannot find fails the build (otherwise the build log warns).";
    };
    extraLdSoConf = mkOption {
      type = types.lines;
      default = "";
      example = "/opt/vendor/lib";
      description = "Further directories for the loader's cache, one a line, after those of the packages' /etc/ld.so.conf.d.";
    };
  };
}
