# strata's library for configurations: the attribute-set, list, string and option helpers
# that NixOS configurations use, generators of file formats, versions, command lines, fixed
# points, assertions and tracing, packages' metadata and licenses, files and paths, the
# option types, and the module system (`evalModules`).
let
  lib = builtins.foldl' (acc: f: acc // f) { } [
    (import ./trivial.nix { inherit lib; })
    (import ./lists.nix { inherit lib; })
    (import ./attrsets.nix { inherit lib; })
    (import ./strings.nix { inherit lib; })
    (import ./strings-with-deps.nix { inherit lib; })
    (import ./options.nix { inherit lib; })
    (import ./generators.nix { inherit lib; })
    (import ./gvariant.nix { inherit lib; })
    (import ./versions.nix { inherit lib; })
    (import ./cli.nix { inherit lib; })
    (import ./fixed-points.nix { inherit lib; })
    (import ./debug.nix { inherit lib; })
    (import ./meta.nix { inherit lib; })
    (import ./derivations.nix { inherit lib; })
    (import ./misc.nix { inherit lib; })
    (import ./filesystem.nix { inherit lib; })
    (import ./sources.nix { inherit lib; })
    (import ./network.nix { inherit lib; })
    (import ./licenses.nix { inherit lib; })
    { types = import ./types.nix { inherit lib; }; }
    (import ./modules.nix { inherit lib; })
    (import ./module-helpers.nix { inherit lib; })
    (import ./unsupported.nix { inherit lib; })
  ];
in
lib
