# setuid, setgid and capability wrappers (NixOS's security.wrappers): the programs of
# /run/wrappers/bin, which is first on every PATH.
#
# strata copies the wrapped program itself (Debian's setuid programs are written to run
# setuid), with the owner, mode and file capabilities asked for; activation makes the copies
# (activate/src/wrappers.rs). `source` is a path in the system's packages, such as
# "/usr/bin/passwd" (looked up in the generation's `sw` tree when the system is built), or a
# store path. The builder computes the mode from `permissions`, `setuid` and `setgid` as
# NixOS's chmod does, parses `capabilities` as cap_from_text(3) does, and refuses a source
# that is not a program of the system, an owner or group that is not declared, or an unknown
# capability.
#
# The wrappers strata's modules declare by default (su, passwd, mount, sudo, ping, ...) set
# the strata option `onlyIfPresent`: they exist when the system's packages have their program
# and are left out otherwise (a system without iputils-ping gets no ping wrapper); a wrapper
# a configuration declares must find its program.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;

  # A name in /run/wrappers/bin.
  fileName = types.str // {
    name = "fileName";
    description = "file name (letters, digits and `._+-', not `.' or `..')";
    check = x: builtins.isString x && builtins.match "[A-Za-z0-9._+-]+" x != null && x != "." && x != "..";
  };
  # A chmod mode: symbolic clauses (u+rx,g+x) or an octal number; the builder parses it.
  fileMode = types.str // {
    name = "fileMode";
    description = "file mode string (symbolic, like u+rx,g+x,o+x, or octal, like 0755)";
    check = x: builtins.isString x && builtins.match "[ugoarwxXst0-7,+=-]+" x != null;
  };

  wrapperOpts = { name, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether to enable the wrapper."; };
      source = mkOption {
        type = types.absolutePath;
        example = "/usr/bin/sudo";
        description = "The program to copy: a path in the system's packages (/usr/bin/..., looked up in the generation's tree), or a store path.";
      };
      program = mkOption {
        type = types.nullOr fileName;
        default = name;
        description = "The name of the wrapper program; the attribute name by default.";
      };
      owner = mkOption { type = types.passwdName; description = "The owner of the wrapper program."; };
      group = mkOption { type = types.passwdName; description = "The group of the wrapper program."; };
      permissions = mkOption {
        type = fileMode;
        default = "u+rx,g+x,o+x";
        example = "a+rx";
        description = "The permissions of the wrapper program, as chmod takes them (symbolic or numeric).";
      };
      capabilities = mkOption {
        type = types.commas;
        default = "";
        example = "cap_net_raw+ep";
        description = "Capabilities of the wrapper program, in the textual form of cap_from_text(3) (set as the file's capabilities).";
      };
      setuid = mkOption { type = types.bool; default = false; description = "Whether to add the setuid bit to the wrapper program."; };
      setgid = mkOption { type = types.bool; default = false; description = "Whether to add the setgid bit to the wrapper program."; };
      onlyIfPresent = mkOption {
        type = types.bool;
        default = false;
        internal = true;
        description = "strata: leave the wrapper out when the system's packages do not have `source' (set by the modules' default wrappers).";
      };
    };
  };

  enabled = lib.filterAttrs (n: w: w.enable) config.security.wrappers;
in
{
  options.security.enableWrappers = mkOption {
    type = types.bool;
    default = true;
    description = "Whether to enable SUID/SGID wrappers.";
  };
  options.security.wrappers = mkOption {
    type = types.attrsNamedOf fileName (types.submodule wrapperOpts);
    default = { };
    example = {
      ping = { owner = "root"; group = "root"; capabilities = "cap_net_raw+ep"; source = "/usr/bin/ping"; };
    };
    description = "Programs copied to /run/wrappers/bin with the owner, setuid and setgid bits, permissions and capabilities given.";
  };
  options.security.wrapperDir = mkOption {
    type = types.absolutePath;
    default = "/run/wrappers/bin";
    internal = true;
    readOnly = true;
    description = "Where the wrapper programs are.";
  };

  # iputils' ping with the one capability it needs, where the system has it.
  config.security.wrappers.ping = lib.mapAttrs (n: lib.mkDefault) {
    source = "/usr/bin/ping";
    owner = "root";
    group = "root";
    capabilities = "cap_net_raw+p";
    onlyIfPresent = true;
  };
  config.assertions = lib.optionals config.security.enableWrappers (lib.mapAttrsToList (name: w: {
    assertion = (w.setuid || w.setgid) -> w.capabilities == "";
    message = ''
      The security.wrappers.${name} wrapper is not valid:
          setuid/setgid and capabilities are mutually exclusive.
    '';
  }) enabled);
}
