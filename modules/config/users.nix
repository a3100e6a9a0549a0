{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  topConfig = config;

  # A primary group, or none (the empty string, as system users have by default).
  groupOrNone = types.passwdName // {
    name = "passwdNameOrEmpty";
    description = "empty string or ${types.passwdName.description}";
    check = x: x == "" || types.passwdName.check x;
  };

  # Users (or groups) that share an id, each pair reported once.
  sameId = what: field: set:
    let
      withId = lib.filterAttrs (n: v: v.${field} != null) set;
      names = builtins.attrNames withId;
    in
      builtins.concatMap (a: builtins.concatMap (b:
        lib.optional (a < b && withId.${a}.${field} == withId.${b}.${field}) {
          assertion = false;
          message = "users.${what}.${a}.${field} and users.${what}.${b}.${field} are both ${toString withId.${a}.${field}}: two ${what} cannot share a ${field}; give each its own.";
        }) names) names;

  userOpts = { name, config, ... }: {
    options = {
      name = mkOption { type = types.passwdName; default = name; description = "The user's login name; the attribute name by default."; };
      isNormalUser = mkOption {
        type = types.bool;
        default = false;
        description = "A person: a UID from 1000 up, the group `users', a home in /home, a login shell.";
      };
      isSystemUser = mkOption {
        type = types.bool;
        default = false;
        description = "A service account: a UID below 1000.";
      };
      uid = mkOption { type = types.nullOr types.ints.unsigned; default = null; description = "The user's UID; allocated (and remembered) when null."; };
      group = mkOption {
        type = groupOrNone;
        default = if config.isNormalUser then "users" else "";
        defaultText = lib.literalExpression ''if isNormalUser then "users" else ""'';
        description = "The user's primary group.";
      };
      extraGroups = mkOption { type = types.listOf types.passwdName; default = [ ]; example = [ "wheel" ]; description = "Further groups the user belongs to."; };
      description = mkOption { type = types.passwdField; default = ""; example = "Alice Q. User"; description = "The user's full name (the GECOS field)."; };
      home = mkOption {
        type = types.passwdPath;
        default = if config.isNormalUser then "/home/${name}" else "/var/empty";
        defaultText = lib.literalExpression ''if isNormalUser then "/home/''${name}" else "/var/empty"'';
        description = "The user's home directory.";
      };
      createHome = mkOption {
        type = types.bool;
        default = config.isNormalUser;
        defaultText = lib.literalExpression "isNormalUser";
        description = "Whether to create the home directory, owned by the user, on activation.";
      };
      shell = mkOption {
        type = types.either types.package types.passwdPath;
        default = topConfig.users.defaultUserShell;
        defaultText = lib.literalExpression "config.users.defaultUserShell";
        example = lib.literalExpression "pkgs.zsh";
        description = "The user's login shell: a package (`pkgs.bash', `pkgs.zsh'), which is then installed, or a path.";
      };
      hashedPassword = mkOption { type = types.nullOr types.singleLineStr; default = null; description = "The password hash (as crypt(3) makes), set on every activation."; };
      hashedPasswordFile = mkOption { type = types.nullOr types.absolutePath; default = null; description = "A file holding the password hash, read on every activation; wins over every other password option."; };
      password = mkOption { type = types.nullOr types.str; default = null; description = "The password in clear text, set on every activation. The store holds only its hash, but the configuration file holds it in clear text (`/etc/strata/configuration.nix` in images, readable by root only): prefer `hashedPassword`."; };
      initialPassword = mkOption { type = types.nullOr types.str; default = null; description = "The password in clear text, set only when the user is created. The store holds only its hash, but the configuration file holds it in clear text (`/etc/strata/configuration.nix` in images, readable by root only): prefer `initialHashedPassword`, or change the password after the first login."; };
      initialHashedPassword = mkOption { type = types.nullOr types.singleLineStr; default = null; description = "The password hash, set only when the user is created."; };
      packages = mkOption {
        type = types.listOf types.package;
        default = [ ];
        example = lib.literalExpression "[ pkgs.htop ]";
        description = "Packages for this user. Debian's programs find their files at the paths Debian gives them, so strata installs these system-wide, in the generation's /usr, like environment.systemPackages.";
      };
      # Written to /etc/ssh/authorized_keys.d/<name> and checked by services/openssh.nix.
      openssh.authorizedKeys.keys = mkOption {
        type = types.listOf types.singleLineStr;
        default = [ ];
        example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID+8KVG+rD1X3f7mfOO7TjZHw/EfgcWHnSxQC2eMYdiu alice@laptop" ];
        description = "OpenSSH public keys (lines of authorized_keys) that may log in as this user, added to the file the SSH server reads besides ~/.ssh/authorized_keys. Each is checked at evaluation.";
      };
      openssh.authorizedKeys.keyFiles = mkOption {
        type = types.listOf types.path;
        default = [ ];
        description = "Files of OpenSSH public keys that may log in as this user: read at evaluation (when the SSH server is enabled), checked line by line, and added to the same file as `keys'.";
      };
    };
  };

  groupOpts = { name, ... }: {
    options = {
      name = mkOption { type = types.passwdName; default = name; description = "The group's name; the attribute name by default."; };
      gid = mkOption { type = types.nullOr types.ints.unsigned; default = null; description = "The group's GID; allocated (and remembered) when null."; };
      members = mkOption { type = types.listOf types.passwdName; default = [ ]; description = "Users in the group, besides those that name it in `extraGroups'."; };
    };
  };
in
{
  options.users.users = mkOption {
    type = types.attrsNamedOf types.passwdName (types.submodule userOpts);
    default = { };
    example = { alice = { isNormalUser = true; extraGroups = [ "wheel" ]; }; };
    description = "The users of the machine.";
  };
  options.users.groups = mkOption {
    type = types.attrsNamedOf types.passwdName (types.submodule groupOpts);
    default = { };
    example = { students.gid = 1001; };
    description = "The groups of the machine.";
  };
  options.users.mutableUsers = mkOption {
    type = types.bool;
    default = true;
    description = "Whether passwords changed on the machine (with passwd) survive activation; when false, the configuration is the only source of users and passwords.";
  };

  config = {
    # Users' packages and shells join the system's (see `packages').
    environment.systemPackages = lib.concatLists (lib.mapAttrsToList
      (n: u: u.packages ++ lib.optional (lib.isDerivation u.shell) u.shell)
      config.users.users);
    environment.shells = lib.concatLists (lib.mapAttrsToList
      (n: u: lib.optional (lib.isDerivation u.shell) u.shell)
      config.users.users);
    users.users.root = {
      uid = 0;
      group = "root";
      home = "/root";
      description = "System administrator";
    };
    # Debian's setuid programs of login, passwd and util-linux, where the system has them.
    security.wrappers = lib.genAttrs [ "su" "passwd" "chsh" "chfn" "newgrp" "gpasswd" ] (p: lib.mapAttrs (n: lib.mkDefault) {
      source = "/usr/bin/${p}";
      owner = "root";
      group = "root";
      setuid = true;
      onlyIfPresent = true;
    });
    users.groups = {
      root.gid = 0;
      wheel.gid = 1;
      users.gid = 100;
      nogroup.gid = 65534;
    };
    assertions = lib.concatLists (lib.mapAttrsToList (n: u: [
      {
        assertion = !(u.isNormalUser && u.isSystemUser);
        message = "The user `${n}' is both a normal and a system user; set only one of users.users.${n}.isNormalUser and isSystemUser.";
      }
      {
        assertion = !(u.isNormalUser && (u.home == "" || u.home == "/var/empty"));
        message = "The normal user `${n}' has no home directory; set users.users.${n}.home.";
      }
      {
        assertion = u.group == "" || u.isSystemUser == false || config.users.groups ? ${u.group} || u.group == "";
        message = "The user `${n}' has the primary group `${u.group}', which is not in users.groups.";
      }
    ]) config.users.users)
    ++ sameId "users" "uid" config.users.users
    ++ sameId "groups" "gid" config.users.groups;
    # The store holds only hashes, but the configuration file keeps the clear text.
    warnings = lib.concatLists (lib.mapAttrsToList (n: u:
      lib.optional (u.password != null)
        "users.users.${n}.password holds a password in clear text: the store keeps only its hash, but the configuration file (and every copy of it, such as /etc/strata/configuration.nix in images) holds it; use users.users.${n}.hashedPassword instead."
      ++ lib.optional (u.initialPassword != null)
        "users.users.${n}.initialPassword holds a password in clear text: the store keeps only its hash, but the configuration file (and every copy of it, such as /etc/strata/configuration.nix in images, readable by root only) holds it; change the password after the first login, or use users.users.${n}.initialHashedPassword.")
      config.users.users);
  };
}
