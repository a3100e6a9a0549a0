{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;

  # A copied file's owner: a user or group name, or `+` and a number.
  owner = types.passwdName // {
    name = "owner";
    description = "`+' and a number, or ${types.passwdName.description}";
    check = x: types.passwdName.check x || (builtins.isString x && builtins.match "[+][0-9]+" x != null);
  };

  etcOpts = { name, config, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether to create this file."; };
      target = mkOption { type = types.relativePath; default = name; description = "The path below /etc; the attribute name by default."; };
      text = mkOption { type = types.nullOr types.lines; default = null; description = "The file's contents."; };
      source = mkOption { type = types.nullOr types.path; default = null; description = "A file or directory (a store path) to link or copy; set instead of `text'."; };
      mode = mkOption {
        type = types.str;
        default = "symlink";
        example = "0600";
        description = "`symlink' to link into the store, or an octal mode to copy the file with.";
      };
      user = mkOption { type = owner; default = "+0"; description = "The owner of a copied file (a name, or +UID)."; };
      group = mkOption { type = owner; default = "+0"; description = "The group of a copied file (a name, or +GID)."; };
    };
  };
in
{
  options.environment.systemPackages = mkOption {
    type = types.listOf types.package;
    default = [ ];
    description = "Packages installed in the system profile (/run/current-system/sw).";
  };
  options.environment.defaultPackages = mkOption {
    type = types.listOf types.package;
    default = builtins.concatMap (n: lib.optional (pkgs ? ${n}) pkgs.${n}) [ "kmod" "procps" ];
    defaultText = lib.literalExpression "[ pkgs.kmod pkgs.procps ]";
    example = lib.literalExpression "[ ]";
    description = "Packages every system has unless this is changed, besides Debian's essential set (see environment.debian.essential): kmod (modprobe, which finds the running kernel's modules) and procps (ps, top, free). Set it to `[ ]` for a system with only environment.systemPackages and the essential set.";
  };
  options.environment.etc = mkOption {
    type = types.attrsNamedOf types.relativePath (types.submodule etcOpts);
    default = { };
    example = { "hosts".text = "127.0.0.1 localhost\n"; };
    description = "Files in /etc.";
  };
  options.environment.variables = mkOption {
    type = types.attrsNamedOf types.envVarName (types.either types.str (types.listOf types.str));
    default = { };
    example = { EDITOR = "vi"; };
    description = "Environment variables of every login session; lists are joined with colons.";
  };
  config.assertions = lib.mapAttrsToList (n: e: {
    assertion = !e.enable || ((e.text == null) != (e.source == null));
    message = "environment.etc.\"${n}\" must set exactly one of `text' and `source'.";
  }) config.environment.etc
  ++ lib.mapAttrsToList (n: e: {
    assertion = e.mode == "symlink" || builtins.match "0?[0-7]{3,4}" e.mode != null;
    message = "environment.etc.\"${n}\".mode must be `symlink' or an octal mode like 0644, not `${e.mode}'.";
  }) config.environment.etc;

  # PAM sessions (sshd's commands, su, sudo, login) read /etc/environment through pam_env:
  # the same PATH, so a command run over SSH finds the setuid wrappers (sudo) first, and the
  # variables pam_env's format can hold (no quote, backslash or newline in the value).
  config.environment.etc."environment".text = lib.mkDefault (
    let
      value = v: if builtins.isList v then lib.concatStringsSep ":" v else v;
      plain = v: builtins.match "[^\"\\\n]*" (value v) != null;
    in
    ''
      # Written by strata from environment.variables; pam_env reads it for every session.
      PATH="/run/wrappers/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/run/current-system/strata/bin"
    ''
    + lib.concatStrings (lib.mapAttrsToList (n: v:
      if plain v then "${n}=\"${value v}\"\n"
      else "# ${n} is in /etc/profile only: its value holds a quote, a backslash or a newline\n")
      config.environment.variables)
  );

  # Login shells read /etc/profile: the setuid wrappers, Debian's PATH (root's order, for
  # everyone) and strata itself, then
  # environment.variables (lists joined with colons), each quoted for the shell.
  config.environment.etc."profile".text = lib.mkDefault (
    let
      quote = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
      value = v: if builtins.isList v then lib.concatStringsSep ":" v else v;
    in
    ''
      # Written by strata from environment.variables; login shells read it.
      export PATH=/run/wrappers/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/run/current-system/strata/bin
    ''
    + lib.concatStrings (lib.mapAttrsToList (n: v: "export ${n}=${quote (value v)}\n") config.environment.variables)
  );
}
