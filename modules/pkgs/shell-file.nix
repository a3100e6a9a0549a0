# How `strata shell` reads a shell.nix (or default.nix), written as for nix-shell.
#
#   import ./shell-file.nix { pkgs; file; autoArgs; }
#
# `file` is evaluated in a scope where `<strata>` and `<nixpkgs>` are the package set `pkgs`
# (that of the lock beside the file, else strata's own): `import <nixpkgs> { ... }` gives
# `pkgs` whatever its arguments, in `file` and in every file it imports. Other `<...>` paths
# are looked up in the search path as usual. When the file is a function, it is called with
# `pkgs` and `autoArgs` (`--arg`, `--argstr`), those its formals name (all of them when it
# names none: `{ ... }:`); an argument it does not get takes its default.
{ pkgs, file, autoArgs }:
let
  inherit (builtins) findFile functionArgs intersectAttrs isFunction substring stringLength;

  # What `<strata>` and `<nixpkgs>` stand for; `import` recognises it.
  marker = "<strata package set>";
  isBelow = prefix: name:
    substring 0 (stringLength prefix + 1) name == prefix + "/";

  scope = {
    __findFile = path: name:
      if name == "strata" || name == "nixpkgs" then marker
      else if isBelow "strata" name || isBelow "nixpkgs" name then
        throw ("<${name}> is not available in strata shell: <strata> and <nixpkgs> are strata's "
          + "package set, whose only file is the set itself (use pkgs.<name>)")
      else findFile path name;
    import = p: if p == marker then (_: pkgs) else scopedImport scope p;
  };

  value = scopedImport scope file;
  args = { inherit pkgs; } // autoArgs;
  formals = functionArgs value;
in
if isFunction value then
  value (if formals == { } then args else intersectAttrs formals args)
else value
