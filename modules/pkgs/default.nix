# strata's package set: the Debian packages a lock pins (`debian.nix`) and the trivial builders
# (`trivial.nix`), whose only tool is the locked busybox-static.
#
# `busybox-applets` is a tree of `bin/<applet>` links to busybox: the shell and tools a
# system's `sw` holds by default.
{ lock }:
let
  debian = import ./debian.nix { inherit lock; };
  busybox = debian.busybox-static or (throw
    "strata.lock pins no busybox-static, which every system and every trivial builder needs; add it with `strata lock update`");
  trivial = import ./trivial.nix { inherit busybox; };
in
debian // trivial // { busybox-applets = trivial.shell; }
