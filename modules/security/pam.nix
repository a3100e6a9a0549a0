# PAM (NixOS's security.pam): /etc/pam.d in Debian 12's shape, for Debian's libpam-modules.
#
# The four common files are Debian's as pam-auth-update writes them for libpam-runtime
# (pam_unix, then pam_deny and pam_permit), without the modules of packages strata does not
# install (pam_cap, pam_systemd, pam_selinux); `common-session-noninteractive` is then the
# same as `common-session`. A service's file is `text` when that is set, else its `lines`
# sorted by `order`: the NixOS options below each add a line at a fixed place, and the
# defaults of login, su, sudo, passwd, chsh, chfn, other and (with services.openssh) sshd
# add the lines of Debian's files that no NixOS option stands for (pam_nologin, pam_group,
# pam_mail, pam_keyinit, pam_shells, pam_limits) and move lines where Debian has them, so
# their files are Debian's, one line for one line, in Debian's order.
#
# NixOS's options and the lines they give (`order`):
#   failDelay.enable   100  auth optional pam_faildelay.so delay=<failDelay.delay>
#   rootOK             300  auth sufficient pam_rootok.so
#   requireWheel       350  auth required pam_wheel.so use_uid
#   setLoginUid        400  session required pam_loginuid.so
#   showMotd           500  session optional pam_motd.so motd=/run/motd.dynamic, ... noupdate
#   setEnvironment     600  session required pam_env.so readenv=1 (and envfile=/etc/default/locale)
#   unixAuth           700  @include common-auth (with nodelay: common-auth's lines, pam_unix nodelay)
#   limits             850  session required pam_limits.so conf=/etc/security/limits.<service>.conf
#   updateWtmp         900  session optional pam_lastlog.so
#   (always)          1200  @include common-account
#                     1300  @include common-session, or common-session-noninteractive unless startSession
#                     1400  @include common-password
# `security.pam.loginLimits` goes to /etc/security/limits.d/strata.conf, which pam_limits
# reads. /etc/default/locale is written by the locale settings (i18n).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkDefault types;

  # A PAM service's name is the name of its file in /etc/pam.d.
  serviceName = types.str // {
    name = "pamServiceName";
    description = "PAM service name (letters, digits and `._+-', not `.' or `..')";
    check = x: builtins.isString x && builtins.match "[A-Za-z0-9._+-]+" x != null && x != "." && x != "..";
  };
  # One line of a PAM file.
  pamLine = types.str // {
    name = "pamLine";
    description = "line of a PAM file (no newline or other control character)";
    check = x: builtins.isString x && builtins.match "[^[:cntrl:]]*" x != null;
  };

  limitsType = types.listOf (types.submodule {
    options = {
      domain = mkOption { type = types.word; example = "@wheel"; description = "Username, groupname, or wildcard this limit applies to."; };
      type = mkOption { type = types.enum [ "-" "hard" "soft" ]; default = "-"; description = "Type of this limit."; };
      item = mkOption {
        type = types.enum [ "core" "data" "fsize" "memlock" "nofile" "rss" "stack" "cpu" "nproc" "as" "maxlogins" "maxsyslogins" "priority" "locks" "sigpending" "msgqueue" "nice" "rtprio" ];
        description = "Item this limit applies to.";
      };
      value = mkOption { type = types.either types.word types.int; description = "Value of this limit."; };
    };
  });
  limitsText = limits: lib.concatMapStrings (l: "${l.domain} ${l.type} ${l.item} ${toString l.value}\n") limits;

  # "type control module args", in columns.
  pad = n: s: let len = builtins.stringLength s; in
    if len >= n then s + " " else s + builtins.substring 0 (n - len) "                ";
  line = type: control: rest: pad 9 type + pad 11 control + rest;

  lineOpts = {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether the line is in the file."; };
      order = mkOption { type = types.int; description = "Where the line goes: lines are sorted by this number (then by name)."; };
      text = mkOption { type = pamLine; description = "The line."; };
    };
  };

  serviceOpts = { name, config, ... }: {
    options = {
      unixAuth = mkOption { type = types.bool; default = true; description = "Whether users can log in with passwords defined in /etc/shadow."; };
      rootOK = mkOption { type = types.bool; default = false; description = "If set, root doesn't need to authenticate (e.g. for the useradd service)."; };
      requireWheel = mkOption { type = types.bool; default = false; description = "Whether to permit root access only to members of group wheel."; };
      setEnvironment = mkOption { type = types.bool; default = true; description = "Whether the service should set the environment variables of /etc/environment and /etc/default/locale using pam_env.so."; };
      startSession = mkOption { type = types.bool; default = false; description = "If set, the service opens an interactive session (common-session rather than common-session-noninteractive)."; };
      setLoginUid = mkOption {
        type = types.bool;
        description = "Set the login uid of the process (/proc/self/loginuid) for auditing purposes. The login uid is only set by `entry points' like login and sshd, not by commands like sudo.";
      };
      showMotd = mkOption { type = types.bool; default = false; description = "Whether to show the message of the day."; };
      updateWtmp = mkOption { type = types.bool; default = false; description = "Whether to show and record the last login (pam_lastlog)."; };
      nodelay = mkOption { type = types.bool; default = false; description = "Whether the delay after typing a wrong password should be disabled."; };
      failDelay = {
        enable = mkOption { type = types.bool; default = false; description = "If enabled, this will replace the FAIL_DELAY setting from login.defs."; };
        delay = mkOption { type = types.ints.unsigned; default = 3000000; example = 1000000; description = "The delay time (in microseconds) on failure."; };
      };
      limits = mkOption {
        type = limitsType;
        default = [ ];
        description = "Resource limits of this service's sessions, as limits.conf(5) describes them (a file of its own, read instead of limits.conf).";
      };
      lines = mkOption {
        type = types.attrsOf (types.submodule lineOpts);
        default = { };
        example = { nologin = { order = 250; text = "auth requisite pam_nologin.so"; }; };
        description = "strata: the lines of the file by name, sorted by `order' (the options above add theirs; see modules/security/pam.nix for their places).";
      };
      text = mkOption { type = types.nullOr types.lines; default = null; description = "Contents of the PAM service file; set, it replaces the lines."; };
    };
    config = {
      setLoginUid = lib.mkOptionDefault config.startSession;
      lines = lib.mkMerge [
        (lib.mkIf config.failDelay.enable { faildelay = { order = lib.mkOptionDefault 100; text = line "auth" "optional" "pam_faildelay.so delay=${toString config.failDelay.delay}"; }; })
        (lib.mkIf config.rootOK { rootok = { order = lib.mkOptionDefault 300; text = line "auth" "sufficient" "pam_rootok.so"; }; })
        (lib.mkIf config.requireWheel { wheel = { order = lib.mkOptionDefault 350; text = line "auth" "required" "pam_wheel.so use_uid"; }; })
        (lib.mkIf config.setLoginUid { loginuid = { order = lib.mkOptionDefault 400; text = line "session" "required" "pam_loginuid.so"; }; })
        (lib.mkIf config.showMotd {
          motd = { order = lib.mkOptionDefault 500; text = line "session" "optional" "pam_motd.so motd=/run/motd.dynamic"; };
          motd-static = { order = lib.mkOptionDefault 510; text = line "session" "optional" "pam_motd.so noupdate"; };
        })
        (lib.mkIf config.setEnvironment {
          # Default texts: Debian's sshd file words these two lines its own way.
          env = { order = lib.mkOptionDefault 600; text = lib.mkOptionDefault (line "session" "required" "pam_env.so readenv=1"); };
          env-locale = { order = lib.mkOptionDefault 610; text = lib.mkOptionDefault (line "session" "required" "pam_env.so readenv=1 envfile=/etc/default/locale"); };
        })
        (lib.mkIf (config.unixAuth && !config.nodelay) { auth = { order = lib.mkOptionDefault 700; text = "@include common-auth"; }; })
        (lib.mkIf (config.unixAuth && config.nodelay) {
          auth = { order = lib.mkOptionDefault 700; text = line "auth" "[success=1 default=ignore]" "pam_unix.so nullok nodelay"; };
          auth-deny = { order = lib.mkOptionDefault 710; text = line "auth" "requisite" "pam_deny.so"; };
          auth-permit = { order = lib.mkOptionDefault 720; text = line "auth" "required" "pam_permit.so"; };
        })
        (lib.mkIf (config.limits != [ ]) { limits = { order = lib.mkOptionDefault 850; text = line "session" "required" "pam_limits.so conf=/etc/security/limits.${name}.conf"; }; })
        (lib.mkIf config.updateWtmp { lastlog = { order = lib.mkOptionDefault 900; text = line "session" "optional" "pam_lastlog.so"; }; })
        {
          account = { order = lib.mkOptionDefault 1200; text = "@include common-account"; };
          session = { order = lib.mkOptionDefault 1300; text = "@include common-session${lib.optionalString (!config.startSession) "-noninteractive"}"; };
          password = { order = lib.mkOptionDefault 1400; text = "@include common-password"; };
        }
      ];
    };
  };

  render = s:
    if s.text != null then s.text else
    let
      named = lib.mapAttrsToList (n: l: l // { name = n; }) (lib.filterAttrs (n: l: l.enable) s.lines);
      sorted = builtins.sort (a: b: a.order < b.order || (a.order == b.order && a.name < b.name)) named;
    in
    lib.concatMapStrings (l: l.text + "\n") sorted;

  # Debian 12's common files, as pam-auth-update writes them (see the file's head).
  common = {
    common-auth = [
      (line "auth" "[success=1 default=ignore]" "pam_unix.so nullok")
      (line "auth" "requisite" "pam_deny.so")
      (line "auth" "required" "pam_permit.so")
    ];
    common-account = [
      (line "account" "[success=1 new_authtok_reqd=done default=ignore]" "pam_unix.so")
      (line "account" "requisite" "pam_deny.so")
      (line "account" "required" "pam_permit.so")
    ];
    common-password = [
      (line "password" "[success=1 default=ignore]" "pam_unix.so obscure yescrypt")
      (line "password" "requisite" "pam_deny.so")
      (line "password" "required" "pam_permit.so")
    ];
    common-session = sessionLines;
    common-session-noninteractive = sessionLines;
  };
  sessionLines = [
    (line "session" "[default=1]" "pam_permit.so")
    (line "session" "requisite" "pam_deny.so")
    (line "session" "required" "pam_permit.so")
    (line "session" "required" "pam_unix.so")
  ];

  # A line of Debian's files that no NixOS option stands for.
  debianLine = order: type: control: rest: { order = mkDefault order; text = mkDefault (line type control rest); };

  cfg = config.security.pam;
in
{
  options.security.pam = {
    services = mkOption {
      type = types.attrsNamedOf serviceName (types.submodule serviceOpts);
      default = { };
      description = "The PAM services, by name: each is a file of /etc/pam.d.";
    };
    loginLimits = mkOption {
      type = limitsType;
      default = [ ];
      example = [ { domain = "@student"; type = "-"; item = "maxlogins"; value = 4; } ];
      description = "Resource limits of users and groups (limits.conf(5)), for every service that runs pam_limits.";
    };
  };

  config = {
    # Debian's services; each file is the Debian 12 one (see the file's head).
    security.pam.services = {
      login = {
        startSession = mkDefault true;
        showMotd = mkDefault true;
        updateWtmp = mkDefault true;
        failDelay.enable = mkDefault true;
        lines = {
          nologin = debianLine 250 "auth" "requisite" "pam_nologin.so";
          group = debianLine 800 "auth" "optional" "pam_group.so";
          limits = debianLine 850 "session" "required" "pam_limits.so";
          mail = debianLine 1000 "session" "optional" "pam_mail.so standard";
          keyinit = debianLine 1100 "session" "optional" "pam_keyinit.so force revoke";
        };
      };
      su = {
        rootOK = mkDefault true;
        startSession = mkDefault true;
        setLoginUid = mkDefault false;
        lines = {
          mail = debianLine 650 "session" "optional" "pam_mail.so nopen";
          limits = debianLine 680 "session" "required" "pam_limits.so";
          password.enable = mkDefault false;
        };
      };
      sudo = {
        setEnvironment = mkDefault false;
        lines = {
          limits = debianLine 680 "session" "required" "pam_limits.so";
          password.enable = mkDefault false;
        };
      };
      passwd = {
        unixAuth = mkDefault false;
        setEnvironment = mkDefault false;
        lines.account.enable = mkDefault false;
        lines.session.enable = mkDefault false;
      };
      chfn = {
        rootOK = mkDefault true;
        startSession = mkDefault true;
        setLoginUid = mkDefault false;
        setEnvironment = mkDefault false;
        lines.password.enable = mkDefault false;
      };
      chsh = {
        rootOK = mkDefault true;
        startSession = mkDefault true;
        setLoginUid = mkDefault false;
        setEnvironment = mkDefault false;
        lines.shells = debianLine 200 "auth" "required" "pam_shells.so";
        lines.password.enable = mkDefault false;
      };
      other = {
        setEnvironment = mkDefault false;
        startSession = mkDefault true;
        setLoginUid = mkDefault false;
        # Debian's `other' has the password stack before the session's.
        lines.session.order = mkDefault 1500;
      };
      # Debian's sshd file, when the SSH server runs with PAM (services/openssh.nix sets the
      # service's NixOS options as NixOS does: startSession, showMotd, unixAuth). Its session
      # lines follow common-account, and its pam_env lines are worded its own way.
      sshd = lib.mkIf (config.services.openssh.enable && config.services.openssh.settings.UsePAM == true) (
        let s = cfg.services.sshd; in {
          lines = lib.mkMerge [
            {
              nologin = debianLine 750 "account" "required" "pam_nologin.so";
              keyinit = debianLine 1220 "session" "optional" "pam_keyinit.so force revoke";
              mail = debianLine 1320 "session" "optional" "pam_mail.so standard noenv";
              limits = debianLine 1330 "session" "required" "pam_limits.so";
            }
            (lib.mkIf s.setLoginUid { loginuid.order = mkDefault 1210; })
            (lib.mkIf s.showMotd { motd.order = mkDefault 1310; motd-static.order = mkDefault 1311; })
            (lib.mkIf s.setEnvironment {
              env = debianLine 1340 "session" "required" "pam_env.so";
              env-locale = debianLine 1341 "session" "required" "pam_env.so user_readenv=1 envfile=/etc/default/locale";
            })
          ];
        });
    };

    environment.etc = lib.mkMerge [
      (lib.mapAttrs' (n: lines: lib.nameValuePair "pam.d/${n}" { text = lib.concatMapStrings (l: l + "\n") lines; }) common)
      (lib.mapAttrs' (n: s: lib.nameValuePair "pam.d/${n}" { text = render s; }) cfg.services)
      (lib.mapAttrs' (n: s: lib.nameValuePair "security/limits.${n}.conf" { text = limitsText s.limits; })
        (lib.filterAttrs (n: s: s.limits != [ ]) cfg.services))
      (lib.mkIf (cfg.loginLimits != [ ]) { "security/limits.d/strata.conf".text = limitsText cfg.loginLimits; })
    ];

    # The modules (pam_unix, pam_env, ...) and the password helper unix_chkpwd.
    environment.systemPackages = lib.optional (pkgs ? libpam-modules) pkgs.libpam-modules;
  };
}
