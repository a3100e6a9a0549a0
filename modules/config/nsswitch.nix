# Name service switch (NixOS's system.nssDatabases and system.nssModules): /etc/nsswitch.conf.
#
# The file has Debian 12's shape (libc-bin's default), with `files' only where Debian adds
# `db' (libnss-db is not installed) and without `netgroup: nis' (glibc 2.36 has no NIS
# module of its own). Sources merge in NixOS's order: `files' first, `dns' last for hosts,
# what a configuration adds in between.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  db = description: mkOption {
    type = types.listOf types.word;
    default = [ ];
    description = "List of ${description} entries to configure in /etc/nsswitch.conf (sources, in order).";
  };
  cfg = config.system.nssDatabases;
  entry = name: sources: name + ":" + builtins.substring 0 (16 - builtins.stringLength name - 1) "                " + lib.concatStringsSep " " sources + "\n";
in
{
  options.system.nssModules = mkOption {
    type = types.listOf types.package;
    default = [ ];
    example = lib.literalExpression "[ pkgs.libnss-mymachines ]";
    description = "Packages holding NSS modules (Debian's libnss-*), added to the system's packages; name their sources in system.nssDatabases.";
  };
  options.system.nssDatabases = {
    passwd = db "passwd";
    group = db "group";
    shadow = db "shadow";
    hosts = db "hosts";
    services = db "services";
  };

  config = {
    system.nssDatabases = {
      passwd = lib.mkBefore [ "files" ];
      group = lib.mkBefore [ "files" ];
      shadow = lib.mkBefore [ "files" ];
      hosts = lib.mkMerge [ (lib.mkOrder 998 [ "files" ]) (lib.mkOrder 1499 [ "dns" ]) ];
      services = lib.mkBefore [ "files" ];
    };
    environment.etc."nsswitch.conf".text = lib.concatStrings [
      (entry "passwd" cfg.passwd)
      (entry "group" cfg.group)
      (entry "shadow" cfg.shadow)
      (entry "gshadow" [ "files" ])
      "\n"
      (entry "hosts" cfg.hosts)
      (entry "networks" [ "files" ])
      "\n"
      (entry "protocols" [ "files" ])
      (entry "services" cfg.services)
      (entry "ethers" [ "files" ])
      (entry "rpc" [ "files" ])
    ];
    environment.systemPackages = config.system.nssModules;
  };
}
