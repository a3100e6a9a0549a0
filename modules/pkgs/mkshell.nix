# `pkgs.mkShell`: a development shell for `strata shell`, written as for nixpkgs's mkShell.
#
#   pkgs.mkShell {
#     packages = [ pkgs.jq pkgs.python3 ];   # also buildInputs, nativeBuildInputs and the
#                                           # propagated ones: all are the shell's packages
#     inputsFrom = [ otherShell pkgs.git ];  # a shell's packages, a Debian package's Depends,
#                                           # another derivation's build inputs
#     shellHook = ''echo hello'';            # run when the shell starts (after inputsFrom's)
#     env = { FOO = "bar"; };                # environment variables
#     BAR = "baz";                           # any other attribute is a variable too
#   }
#
# The value is the shell's usr-merged tree (`usrTree` of the packages, the suite's Essential
# packages, as every Debian machine has them, and everything they depend on), so building
# it builds the shell, with what `strata shell` reads beside it: `shellPackages`,
# `shellHook` (inputsFrom's hooks, then this one's) and `shellVariables` (name -> string;
# `name` included, as nix-shell exports it). A variable's value may be a string, a number,
# a Boolean (true is "1", false ""), null (""), a path or a derivation (its store path, made
# available in the shell) or a list of those (joined by spaces).
#
# The tree's derivation depends on the packages only, so every shell of the same packages
# shares one tree.
{ debianClosure, debianEssential, usrTree }:

{ name ? "nix-shell"
, packages ? [ ]
, buildInputs ? [ ]
, nativeBuildInputs ? [ ]
, propagatedBuildInputs ? [ ]
, propagatedNativeBuildInputs ? [ ]
, inputsFrom ? [ ]
, shellHook ? ""
, env ? { }
, passthru ? { }
, ...
}@attrs:
let
  inherit (builtins) attrNames concatMap concatStringsSep elem filter genList
    intersectAttrs isAttrs isBool isFloat isInt isList isPath isString length mapAttrs
    removeAttrs toString typeOf;

  inputNames = [ "buildInputs" "nativeBuildInputs" "propagatedBuildInputs" "propagatedNativeBuildInputs" ];
  reserved = [ "name" "packages" "inputsFrom" "shellHook" "env" "passthru" ] ++ inputNames;

  reverse = xs: let n = length xs; in genList (i: builtins.elemAt xs (n - 1 - i)) n;

  # What an element of inputsFrom brings (never itself, as in nixpkgs).
  inputsOf = d:
    if !isAttrs d then [ ]
    else if d ? shellPackages then d.shellPackages
    else if d ? depends then d.depends
    else concatMap (n: d.${n} or [ ]) inputNames;
  fromInputs = filter (p: !(elem p inputsFrom)) (concatMap inputsOf inputsFrom);

  own = packages ++ concatMap (n: attrs.${n} or [ ]) inputNames;
  shellPackages = own ++ fromInputs;

  hooks = filter (h: h != "") (map (d: if isAttrs d then d.shellHook or "" else "")
    (reverse inputsFrom) ++ [ shellHook ]);

  both = attrNames (intersectAttrs env (removeAttrs attrs reserved));
  toVar = n: v:
    if isString v then v
    else if isBool v then (if v then "1" else "")
    else if v == null then ""
    else if isInt v || isFloat v then toString v
    else if isPath v then "${v}"
    else if isAttrs v && v ? outPath then "${v}"
    else if isList v then concatStringsSep " " (map (toVar n) v)
    else throw ("mkShell: the variable ${n} is a ${typeOf v}; a variable is a string, a number, "
      + "a Boolean, null, a path, a derivation or a list of those");
  variables =
    if both != [ ] then
      throw "mkShell: ${concatStringsSep ", " both} set both in env and as an attribute"
    else
      mapAttrs toVar (removeAttrs attrs reserved // env) // { inherit name; };

  tree = usrTree {
    name = "shell-usr";
    packages = debianClosure (debianEssential ++ shellPackages);
  };
in
tree // passthru // {
  inherit name shellPackages;
  shellHook = concatStringsSep "\n" hooks;
  shellVariables = variables;
}
