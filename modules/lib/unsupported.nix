# Options strata accepts so that NixOS configurations evaluate, but does not act on (or not
# yet): each is declared with NixOS's name, type and default, and a configuration that gives
# it a value that would matter gets a warning naming it and saying why nothing happens.
#
# `mkUnsupportedOption` declares one; `unsupportedWarnings` (which misc/unsupported.nix turns
# into `warnings`) finds every such option in an evaluation's options, including those inside
# the elements of a set or list of submodules (`users.users.<name>.packages`). Giving an
# option its meaning is replacing `mkUnsupportedOption` by `mkOption` where it is declared:
# nothing else names it.
{ lib }:
let
  inherit (builtins) attrNames isAttrs isList concatMap;

  # `fileSystems."/home".neededForBoot`: names that are not identifiers are quoted.
  showLoc = loc: lib.concatMapStringsSep "." (n:
    if builtins.match "[a-zA-Z_][a-zA-Z0-9_'-]*|\\[[0-9]+]" n != null then n else builtins.toJSON n) loc;

  message = loc: u:
    "The option `${showLoc loc}' has no effect on strata${lib.optionalString u.yet " yet"}: ${u.reason}";

  # The unsupported options of a submodule's option tree, by their path in an element.
  marked = prefix: tree: concatMap (n:
    let v = tree.${n}; in
    if lib.isOption v then lib.optional (v ? unsupported) { path = prefix ++ [ n ]; u = v.unsupported; }
    else if isAttrs v then marked (prefix ++ [ n ]) v
    else [ ]) (attrNames tree);

  # The elements of a submodule-typed option's value, with their locations.
  elementsOf = opt:
    let t = opt.type.name or ""; v = opt.value; in
    if (t == "attrsOf" || t == "lazyAttrsOf") && isAttrs v then
      lib.mapAttrsToList (n: e: { loc = opt.loc ++ [ n ]; value = e; }) v
    else if t == "listOf" && isList v then
      lib.imap0 (i: e: { loc = opt.loc ++ [ "[${toString i}]" ]; value = e; }) v
    else if t == "submodule" then [ { inherit (opt) loc; value = v; } ]
    else [ ];

  # An option declared at the top: a warning when a definition other than its default gives
  # it a value that matters.
  ownWarning = opt:
    lib.optional (opt ? unsupported && opt.isDefined && opt.highestPrio < 1500
      && !(opt.unsupported.quietWhen opt.value)) (message opt.loc opt.unsupported);

  # Options inside the elements of a set or list of submodules: only the merged values are
  # known there, so an element is warned about when its value matters.
  elementWarnings = opt:
    let
      # A configuration's own submodule whose option tree cannot be evaluated without a
      # value holds no option of strata's: it has nothing to warn about.
      found = builtins.tryEval (let m = marked [ ] (opt.type.getSubOptions [ ]); in builtins.deepSeq (map (x: x.path) m) m);
      marks = if opt.type ? getSubOptions && found.success then found.value else [ ];
    in
    if marks == [ ] then [ ]
    else concatMap (e: concatMap (m:
      let v = lib.attrByPath m.path null e.value; in
      lib.optional (!(m.u.quietWhen v)) (message (e.loc ++ m.path) m.u)) marks) (elementsOf opt);

  walk = tree: concatMap (n:
    let v = tree.${n}; in
    if lib.isOption v then ownWarning v ++ elementWarnings v
    else if isAttrs v then walk v
    else [ ]) (attrNames tree);
in
{
  # An option strata does not act on: `reason` says why (it ends the warning, after "has no
  # effect on strata: "); `yet` says a later version will act on it. The warning is left out
  # while `quietWhen value` holds: by default, while the value is the default; an option whose
  # NixOS default does something strata does not (networking.firewall.enable) is quiet only
  # at the value that matches what strata does.
  mkUnsupportedOption =
    { type
    , default
    , reason
    , yet ? false
    , quietWhen ? (v: v == default)
    , description ? null
    , defaultText ? null
    , example ? null
    }:
    lib.mkOption ({
      inherit type default;
      description = (if description == null then "" else "${description} ")
        + "Has no effect on strata${lib.optionalString yet " yet"}: ${reason}";
    } // lib.optionalAttrs (defaultText != null) { inherit defaultText; }
      // lib.optionalAttrs (example != null) { inherit example; })
    // { unsupported = { inherit reason yet quietWhen; }; };

  # The warnings for the unsupported options of `options` (an evaluation's option tree).
  unsupportedWarnings = walk;
}
