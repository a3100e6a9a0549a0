# Names nixpkgs users type for packages Debian spells differently: nixpkgs name -> Debian name.
#
# An alias is used only when the suite has no package of that name, so it never hides a Debian
# package. Besides this table, `python3Packages.<x>` is Debian's `python3-<x>`,
# `perlPackages.<x>` is `lib<x>-perl` (Debian's lower-case spelling: `perlPackages.json-xs` for
# JSON::XS) and `nodePackages.<x>` is `node-<x>` (pkgs/default.nix). Note that Debian's `bat` installs its program as `batcat`
# and `fd-find` as `fdfind`.
{
  bashInteractive = "bash";
  dnsutils = "bind9-dnsutils";
  exfat = "exfatprogs";
  fd = "fd-find";
  firefox = "firefox-esr";
  glxinfo = "mesa-utils";
  gnugrep = "grep";
  gnumake = "make";
  gnused = "sed";
  gnutar = "tar";
  gptfdisk = "gdisk";
  iputils = "iputils-ping";
  libnotify = "libnotify-bin";
  lm_sensors = "lm-sensors";
  nettools = "net-tools";
  ntfs3g = "ntfs-3g";
  openssh = "openssh-client";
  pkg-config = "pkgconf";
  xz = "xz-utils";
}
