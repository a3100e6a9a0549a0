# The path on the machine of a shell given as a package or a path: a package's `shellPath` if
# it has one, else where Debian installs that shell (with merged /usr, /bin/x is /usr/bin/x),
# else `/bin/<package name>`.
{ lib }:
let
  debianShellPaths = {
    bash = "/bin/bash";
    dash = "/bin/dash";
    zsh = "/bin/zsh";
    fish = "/usr/bin/fish";
    mksh = "/bin/mksh";
    tcsh = "/bin/tcsh";
  };
in
s:
if lib.isDerivation s then
  s.shellPath or (debianShellPaths.${s.pname or ""} or "/bin/${s.pname or s.name}")
else toString s
