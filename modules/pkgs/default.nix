# strata's package set: every Debian package of the suite strata.lock pins (`debian.nix`), the
# names nixpkgs users type for some of them (`aliases.nix`), and the trivial builders
# (`trivial.nix`), whose only tool is busybox-static.
#
# `busybox-applets` is a tree of `bin/<applet>` links to busybox (the initrd's tools; no longer
# in a system's `sw`, which is Debian's userspace). `usrTree` (usr-tree.nix) joins packages
# into the generation's usr-merged tree.
#
# `debianClosure roots` is the list of `roots` and every package their `depends` reach (each
# once); packages that are not Debian's (the trivial builders' results) have no `depends`.
# `mkShell` (mkshell.nix) makes a development shell, as nixpkgs's does; `strata shell` reads
# a shell.nix through shell-file.nix.
# `debianEssential` is the suite's `Essential: yes` packages (`lock.essential`, their names):
# no package names them as dependencies, and every Debian system has them.
{ lock, records }:
let
  inherit (builtins) attrNames filter listToAttrs map substring stringLength;
  debian = import ./debian.nix { inherit lock records; };
  busybox = debian.busybox-static;
  trivial = import ./trivial.nix { inherit busybox; };

  aliasTable = import ./aliases.nix;
  aliases = listToAttrs (map (n: { name = n; value = debian.${aliasTable.${n}}; })
    (filter (n: !(records ? ${n}) && records ? ${aliasTable.${n}}) (attrNames aliasTable)));

  # `<set>.<x>` for every Debian name `<prefix><x><suffix>`, with `rename` applied to `<x>`.
  prefixed = prefix: suffix:
    let
      lp = stringLength prefix;
      ls = stringLength suffix;
      matching = filter (n:
        let l = stringLength n; in
        l > lp + ls && substring 0 lp n == prefix && substring (l - ls) ls n == suffix)
        (attrNames records);
    in
    listToAttrs (map (n: {
      name = substring lp (stringLength n - lp - ls) n;
      value = debian.${n};
    }) matching);

  debianClosure = roots: map (x: x.pkg) (builtins.genericClosure {
    # A root may be a store path given as a string (a package built elsewhere).
    startSet = map (p: { key = if builtins.isString p then p else p.pname or p.outPath; pkg = p; }) roots;
    operator = x: map (d: { key = d.pname; pkg = d; }) (x.pkg.depends or [ ]);
  });
in
debian // aliases // trivial // {
  busybox-applets = trivial.shell;
  python3Packages = prefixed "python3-" "";
  nodePackages = prefixed "node-" "";
  perlPackages = prefixed "lib" "-perl";
  inherit debianClosure;
  usrTree = import ./usr-tree.nix;
  # A usr-merged tree of the named packages and their dependencies, for builds in the
  # sandbox's FHS mode (`__strataFhs = pkgs.debianTools [ "sudo" ]`).
  debianTools = names: import ./usr-tree.nix {
    name = "tools-" + builtins.concatStringsSep "-" names;
    packages = debianClosure (map (n: debian.${n}) names);
  };
  debianEssential = map (n: debian.${n}) (lock.essential or [ ]);
  # A development shell for `strata shell` (mkshell.nix), as nixpkgs's mkShell.
  mkShell = import ./mkshell.nix {
    inherit debianClosure;
    debianEssential = map (n: debian.${n}) (lock.essential or [ ]);
    usrTree = import ./usr-tree.nix;
  };
}
