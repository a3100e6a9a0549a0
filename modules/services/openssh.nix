# NixOS's SSH server (services.openssh): Debian's sshd (openssh-server), supervised by
# strata-init as the service `sshd`, with /etc/ssh/sshd_config rendered as NixOS renders it:
#
#   the settings, one `Keyword value' line each, by keyword (null ones left out; booleans as
#     yes/no; lists joined by commas for Ciphers, KexAlgorithms and Macs, by spaces for
#     AuthorizedKeysFile and the Allow/Deny lists);
#   Banner, AddressFamily, Port, ListenAddress, Subsystem sftp, AuthorizedKeysFile and one
#     HostKey line a host key;
#   extraConfig.
#
# sshd takes the first value it reads for most keywords, so settings win over extraConfig,
# and a `Match' block in extraConfig ends the file as sshd wants it.
#
# With a package set that has `debianTools', the file is checked with Debian's `sshd -t' in
# the sandbox when the system is built (against a host key made for the check and thrown
# away, so the check needs none of the machine's); a rejected line fails the build naming it.
#
# Host keys are the machine's, never the store's: the service's preStart makes each missing
# one with Debian's ssh-keygen where `hostKeys' says (/etc/ssh by default). /etc/ssh holds
# them beside the files strata manages there (sshd_config, authorized_keys.d/<user>), and
# activation leaves files it does not manage alone, so they survive switches and reboots.
#
# users.users.<name>.openssh.authorizedKeys.{keys,keyFiles} (declared in config/users.nix)
# become /etc/ssh/authorized_keys.d/<name> (mode 0444), which AuthorizedKeysFile names; every
# key is checked at evaluation.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkUnsupportedOption types;
  inherit (builtins) attrNames concatMap elem filter isAttrs isBool isInt isList isString match;
  cfg = config.services.openssh;

  # ---------------------------------------------------------------------------------------
  # Authorized keys.

  # The key types sshd takes in authorized_keys, with the start of their base64: a key's
  # blob begins with its type's name (a length and the bytes) and the length of the next
  # field, whose first byte is zero.
  keyTypes = {
    "ssh-ed25519" = "AAAAC3NzaC1lZDI1NTE5";
    "ssh-rsa" = "AAAAB3NzaC1yc2EA";
    "ssh-dss" = "AAAAB3NzaC1kc3MA";
    "ecdsa-sha2-nistp256" = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYA";
    "ecdsa-sha2-nistp384" = "AAAAE2VjZHNhLXNoYTItbmlzdHAzODQA";
    "ecdsa-sha2-nistp521" = "AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEA";
    "sk-ssh-ed25519@openssh.com" = "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t";
    "sk-ecdsa-sha2-nistp256@openssh.com" = "AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20A";
  };
  # Options (`from="10.0.0.*",no-pty'): words without blanks, or quoted text.
  keyOptions = "([^ \t\"]|\"([^\"\\\\]|\\\\.)*\")+";
  # The rest of the base64 after the type's start: whole groups of four, the last padded.
  base64Rest = "([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)";
  keyPattern = type: "[ \t]*(${keyOptions}[ \t]+)?${lib.escapeRegex type}[ \t]+${keyTypes.${type}}${base64Rest}([ \t][^\n]*)?\n?";
  isAuthorizedKey = k: isString k && builtins.any (t: match (keyPattern t) k != null) (attrNames keyTypes);
  keyFormat = "a line of authorized_keys is `[options] type base64 [comment]', with a type sshd knows ("
    + lib.concatStringsSep ", " (attrNames keyTypes) + ") and the base64 of a key of that type";

  # The lines of a key file that hold keys (blank lines and `#' comments left out).
  keyLines = text: filter (l: l.text != "" && match "[ \t]*(#.*)?" l.text == null)
    (lib.imap1 (i: l: { line = i; text = l; }) (lib.splitString "\n" text));

  keyFileText = u: lib.concatMapStrings (k: lib.removeSuffix "\n" k + "\n") u.openssh.authorizedKeys.keys
    + lib.concatMapStrings (f: let t = builtins.readFile f; in
        t + lib.optionalString (t != "" && !lib.hasSuffix "\n" t) "\n") u.openssh.authorizedKeys.keyFiles;
  usersWithKeys = lib.filterAttrs (n: u:
    u.openssh.authorizedKeys.keys != [ ] || u.openssh.authorizedKeys.keyFiles != [ ]) config.users.users;

  keyAssertions = concatMap (n:
    let u = config.users.users.${n}; in
    map (k: {
      assertion = isAuthorizedKey k;
      message = "users.users.${n}.openssh.authorizedKeys.keys: ${builtins.toJSON k} is not an SSH public key: ${keyFormat}.";
    }) u.openssh.authorizedKeys.keys
    # Files are read only when sshd uses them.
    ++ lib.optionals cfg.enable (concatMap (f: map (l: {
      assertion = isAuthorizedKey l.text;
      message = "users.users.${n}.openssh.authorizedKeys.keyFiles: ${builtins.toJSON l.text} (line ${toString l.line} of ${toString f}) is not an SSH public key: ${keyFormat}.";
    }) (keyLines (builtins.readFile f))) u.openssh.authorizedKeys.keyFiles)) (attrNames config.users.users);

  # ---------------------------------------------------------------------------------------
  # settings: NixOS's freeform settings, with the keywords below typed and defaulted.

  # A value on a line of sshd_config: no newline or other control character.
  settingText = types.str // {
    name = "sshdSettingText";
    description = "string without newlines or other control characters";
    check = x: isString x && match "[^[:cntrl:]]*" x != null;
  };
  settingValue = types.nullOr (types.oneOf [ types.bool types.int settingText (types.listOf types.word) ]);
  optionalList = description: mkOption { type = types.nullOr (types.listOf types.word); default = null; inherit description; };
  algorithms = default: description: mkOption { type = types.nullOr (types.listOf types.word); inherit default description; };
  flag = default: description: mkOption { type = types.nullOr types.bool; inherit default description; };

  knownSettings = {
    AuthorizedPrincipalsFile = mkOption { type = types.nullOr settingText; default = "none"; description = "A file listing the principal names accepted for certificate authentication; \"none\" for none (sshd's default)."; };
    LogLevel = mkOption {
      type = types.nullOr (types.enum [ "QUIET" "FATAL" "ERROR" "INFO" "VERBOSE" "DEBUG" "DEBUG1" "DEBUG2" "DEBUG3" ]);
      default = "INFO";
      description = "How much sshd logs (it writes to its standard error, which strata-init keeps in the service's log). Logging at a DEBUG level violates the privacy of users and is not recommended.";
    };
    UsePAM = flag true "Whether sshd uses PAM (the service `sshd' of security.pam.services) for authentication, accounts and sessions.";
    UseDns = flag false "Whether sshd looks up the remote host name and checks that it maps back to the remote address; when off, only addresses can be used in authorized_keys `from' options and `Match Host'.";
    X11Forwarding = flag false "Whether to allow X11 connections to be forwarded.";
    PasswordAuthentication = flag true "Whether password authentication is allowed.";
    PermitRootLogin = mkOption {
      type = types.nullOr (types.enum [ "yes" "without-password" "prohibit-password" "forced-commands-only" "no" ]);
      default = "prohibit-password";
      description = "Whether the root user can log in using ssh.";
    };
    KbdInteractiveAuthentication = flag true "Whether keyboard-interactive authentication is allowed.";
    GatewayPorts = mkOption { type = types.nullOr settingText; default = "no"; description = "Whether remote hosts may connect to ports forwarded for the client; see sshd_config(5)."; };
    KexAlgorithms = algorithms [ "sntrup761x25519-sha512@openssh.com" "curve25519-sha256" "curve25519-sha256@libssh.org" "diffie-hellman-group-exchange-sha256" ] "Allowed key exchange algorithms.";
    Macs = algorithms [ "hmac-sha2-512-etm@openssh.com" "hmac-sha2-256-etm@openssh.com" "umac-128-etm@openssh.com" ] "Allowed MACs.";
    StrictModes = flag true "Whether sshd checks the modes and owners of the user's files and home directory before accepting a login.";
    Ciphers = algorithms [ "chacha20-poly1305@openssh.com" "aes256-gcm@openssh.com" "aes128-gcm@openssh.com" "aes256-ctr" "aes192-ctr" "aes128-ctr" ] "Allowed ciphers.";
    AllowUsers = optionalList "If set, login is allowed only for the users listed (patterns as sshd_config(5) describes).";
    DenyUsers = optionalList "If set, login is denied for the users listed; takes precedence over AllowUsers.";
    AllowGroups = optionalList "If set, login is allowed only for users of the groups listed.";
    DenyGroups = optionalList "If set, login is denied for users of the groups listed; takes precedence over AllowGroups.";
    PrintMotd = flag false "Whether sshd prints /etc/motd at an interactive login (off: pam_motd does it).";
  };

  # Keywords whose lists sshd reads joined by commas, and by spaces; other keywords take no list.
  commaSeparated = [ "Ciphers" "KexAlgorithms" "Macs" ];
  spaceSeparated = [ "AuthorizedKeysFile" "AllowGroups" "AllowUsers" "DenyGroups" "DenyUsers" ];

  # The module system has no freeformType: the type merges the typed keywords as options
  # (their defaults included) and any other keyword as a `settingValue'.
  settingsType = types.mkOptionType {
    name = "sshdSettings";
    description = "sshd_config settings (keywords of letters and digits, each a boolean, an integer, a string or a list)";
    check = isAttrs;
    merge = loc: defs:
      let
        perKey = builtins.zipAttrsWith (n: vs: vs)
          (map (d: builtins.mapAttrs (n: v: { inherit (d) file; value = v; }) d.value) defs);
        badKeys = filter (n: match "[A-Za-z][A-Za-z0-9]*" n == null) (attrNames perKey);
        known = n: (lib.mergeDefinitions (loc ++ [ n ]) knownSettings.${n}.type ((perKey.${n} or [ ])
          ++ [ { file = toString ./openssh.nix; value = lib.mkOptionDefault knownSettings.${n}.default; } ])).mergedValue;
        free = builtins.mapAttrs (n: ds: lib.mergeDefinitions (loc ++ [ n ]) settingValue ds)
          (removeAttrs perKey (attrNames knownSettings));
      in
      if badKeys != [ ] then
        throw "The option `${lib.showOption loc}' has an attribute named ${builtins.toJSON (builtins.head badKeys)}, which is not an sshd_config keyword (letters and digits, starting with a letter)."
      else
        builtins.mapAttrs (n: _: known n) knownSettings
        // builtins.mapAttrs (n: m: m.optionalValue.value) (lib.filterAttrs (n: m: m.optionalValue ? value) free);
    getSubOptions = prefix: (lib.evalModules {
      modules = [ { _file = toString ./openssh.nix; options = knownSettings; } ];
      inherit prefix;
    }).options;
  };

  renderValue = n: v:
    if isBool v then (if v then "yes" else "no")
    else if isList v then lib.concatStringsSep (if elem n commaSeparated then "," else " ") v
    else toString v;
  setSettings = lib.filterAttrs (n: v: v != null) cfg.settings;
  listsElsewhere = filter (n: isList setSettings.${n} && !(elem n (commaSeparated ++ spaceSeparated))) (attrNames setSettings);
  # Keywords sshd reads as one (it ignores case), given more than once.
  sameKeyword = filter (g: builtins.length g > 1) (builtins.attrValues (builtins.groupBy lib.toLower (attrNames setSettings)));

  # ---------------------------------------------------------------------------------------
  # sshd_config.

  # A host key: what ssh-keygen makes and sshd_config names.
  hostKeyType = types.attrs // {
    name = "sshHostKey";
    description = "set with `type' (rsa, ecdsa, ed25519 or dsa) and `path' (an absolute path without blanks), and optionally `bits' and `rounds' (integers), `comment' (a one-line string) and `openSSHFormat' (a boolean; Debian's ssh-keygen writes that format anyway)";
    check = k: isAttrs k && k ? type && k ? path
      && elem k.type [ "rsa" "ecdsa" "ed25519" "dsa" ]
      && types.absolutePath.check k.path && match "[^[:space:]]+" k.path != null
      && (!(k ? bits) || isInt k.bits) && (!(k ? rounds) || isInt k.rounds)
      && (!(k ? comment) || settingText.check k.comment)
      && (!(k ? openSSHFormat) || isBool k.openSSHFormat);
  };

  listenLine = { addr, port, ... }: "ListenAddress ${addr}${lib.optionalString (port != null) ":${toString port}"}\n";

  configText = lib.concatStrings (lib.mapAttrsToList (n: v: "${n} ${renderValue n v}\n") setSettings)
    + ''

      Banner ${if cfg.banner == null then "none" else "/etc/ssh/banner"}
      AddressFamily any
    ''
    + lib.concatMapStrings (p: "Port ${toString p}\n") cfg.ports
    + lib.concatMapStrings listenLine cfg.listenAddresses
    + lib.optionalString cfg.allowSFTP
        "Subsystem sftp ${lib.concatStringsSep " " ([ cfg.sftpServerExecutable ] ++ cfg.sftpFlags)}\n"
    + "AuthorizedKeysFile ${lib.concatStringsSep " " cfg.authorizedKeysFiles}\n"
    + lib.concatMapStrings (k: "HostKey ${k.path}\n") cfg.hostKeys
    + lib.optionalString (cfg.extraConfig != "") "\n${lib.removeSuffix "\n" cfg.extraConfig}\n";

  # The check: Debian's sshd over the text, in FHS mode, with a host key made for it.
  checked = pkgs.runCommand "sshd_config"
    {
      __strataFhs = pkgs.debianTools [ "openssh-server" ];
      text = configText;
      passAsFile = [ "text" ];
    }
    ''
      /usr/bin/ssh-keygen -q -t ed25519 -N "" -C sshd-config-check -f /build/check-host-key
      if ! /usr/sbin/sshd -t -f "$textPath" -h /build/check-host-key > /build/sshd.log 2>&1; then
        # The machine's host keys do not exist here: sshd saying so is not the problem.
        grep -v '^Unable to load host key' /build/sshd.log >&2 || true
        where=$(sed -n 's/^.*[: ]line \([0-9][0-9]*\): *\(.*\)$/\1 \2/p' /build/sshd.log | head -n 1)
        if [ -n "$where" ]; then
          n=''${where%% *}
          echo "services.openssh: /etc/ssh/sshd_config line $n (\"$(sed -n "''${n}p" "$textPath")\") rejected by sshd: ''${where#* }" >&2
        else
          echo "services.openssh: /etc/ssh/sshd_config rejected by sshd: $(grep -v '^Unable to load host key' /build/sshd.log | head -n 1)" >&2
        fi
        exit 1
      fi
      cp "$textPath" "$out"
    '';

  # ---------------------------------------------------------------------------------------
  # The service.

  makeHostKey = k: ''
    if [ ! -s ${lib.escapeShellArg k.path} ]; then
      if [ ! -L ${lib.escapeShellArg k.path} ]; then rm -f ${lib.escapeShellArg k.path}; fi
      mkdir -p -m 0755 "$(dirname ${lib.escapeShellArg k.path})"
      /usr/bin/ssh-keygen -q -t ${k.type}${lib.optionalString (k ? bits) " -b ${toString k.bits}"}${lib.optionalString (k ? rounds) " -a ${toString k.rounds}"}${lib.optionalString (k ? comment) " -C ${lib.escapeShellArg k.comment}"} -f ${lib.escapeShellArg k.path} -N ""
      chmod 0600 ${lib.escapeShellArg k.path}
    fi
  '';
in
{
  options.services.openssh = {
    enable = mkOption { type = types.bool; default = false; description = "Whether to run the OpenSSH server (Debian's sshd), which allows secure remote logins."; };
    startWhenNeeded = mkUnsupportedOption {
      type = types.bool;
      default = false;
      yet = true;
      description = "Whether sshd is started for each incoming connection (socket activation) instead of running as a daemon.";
      reason = "strata's init does not start services on connections; sshd runs as a daemon.";
    };
    ports = mkOption { type = types.listOf types.port; default = [ 22 ]; description = "The ports the SSH server listens on."; };
    openFirewall = mkOption { type = types.bool; default = true; description = "Whether to open the SSH server's ports (`ports') in the firewall."; };
    listenAddresses = mkOption {
      type = types.listOf (types.submodule {
        options = {
          addr = mkOption { type = types.nullOr types.word; default = null; description = "Host, IPv4 or IPv6 address to listen to (an IPv6 address in brackets when a port follows)."; };
          port = mkOption { type = types.nullOr types.port; default = null; description = "Port to listen to; every port of `ports' when null."; };
        };
      });
      default = [ ];
      example = [ { addr = "192.168.3.1"; port = 22; } { addr = "0.0.0.0"; port = 64022; } ];
      description = "Addresses and ports to listen on (ListenAddress lines); when empty, sshd listens on every address. The check at build time resolves each address, so give addresses, not host names.";
    };
    allowSFTP = mkOption { type = types.bool; default = true; description = "Whether to enable the SFTP subsystem in the SSH daemon, for sftp and sshfs."; };
    sftpServerExecutable = mkOption {
      type = types.word;
      default = "/usr/lib/openssh/sftp-server";
      example = "internal-sftp";
      description = "The sftp server executable: a path, or \"internal-sftp\" for the one built into sshd.";
    };
    sftpFlags = mkOption { type = types.listOf types.word; default = [ ]; example = [ "-f" "AUTHPRIV" "-l" "INFO" ]; description = "Command-line flags for sftp-server."; };
    hostKeys = mkOption {
      type = types.listOf hostKeyType;
      default = [
        { type = "rsa"; bits = 4096; path = "/etc/ssh/ssh_host_rsa_key"; }
        { type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; }
      ];
      example = [ { type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; rounds = 100; comment = "key comment"; } ];
      description = "The host keys: each is made by ssh-keygen (-t type, -b bits, -a rounds, -C comment) when the service starts and the file is missing or empty, and named by a HostKey line.";
    };
    banner = mkOption { type = types.nullOr types.lines; default = null; description = "Message to display to the remote user before authentication is allowed (written to /etc/ssh/banner)."; };
    authorizedKeysFiles = mkOption {
      type = types.listOf types.word;
      default = [ ];
      description = "Files sshd reads a user's authorized keys from (AuthorizedKeysFile; paths relative to the home directory or absolute, with sshd's %h, %u and %% tokens). `~/.ssh/authorized_keys' (with authorizedKeysInHomedir) and /etc/ssh/authorized_keys.d/%u, which users.users.<name>.openssh.authorizedKeys fill, are always added.";
    };
    authorizedKeysInHomedir = mkOption { type = types.bool; default = true; description = "Whether sshd reads `~/.ssh/authorized_keys'; otherwise only the keys of users.users.<name>.openssh.authorizedKeys are trusted."; };
    settings = mkOption {
      type = settingsType;
      default = { };
      example = { UseDns = true; PasswordAuthentication = false; };
      description = "Settings of sshd_config(5): the keywords declared below are typed and have defaults; any other keyword is written as given (true/false as yes/no).";
    };
    extraConfig = mkOption { type = types.lines; default = ""; description = "Lines appended to sshd_config (after the settings: sshd takes the first value it reads for most keywords)."; };
  };

  config = lib.mkMerge [
    { assertions = keyAssertions; }
    (lib.mkIf cfg.enable {
      services.openssh.authorizedKeysFiles =
        lib.optional cfg.authorizedKeysInHomedir "%h/.ssh/authorized_keys" ++ [ "/etc/ssh/authorized_keys.d/%u" ];

      assertions = map (l: {
        assertion = l.addr != null;
        message = "services.openssh.listenAddresses: every entry needs an `addr' (one has only the port ${toString l.port}).";
      }) cfg.listenAddresses
      ++ map (n: {
        assertion = false;
        message = "services.openssh.settings.${n} is a list, which sshd_config takes only for ${lib.concatStringsSep ", " (commaSeparated ++ spaceSeparated)}; give it a string.";
      }) listsElsewhere
      ++ lib.optional (sameKeyword != [ ]) {
        assertion = false;
        message = "services.openssh.settings names one sshd keyword more than once (sshd ignores case): ${lib.concatMapStringsSep "; " (lib.concatStringsSep ", ") sameKeyword}; keep one spelling (the one of the declared option, if there is one).";
      };

      users.users.sshd = {
        isSystemUser = true;
        group = "sshd";
        description = "SSH privilege separation user";
        home = "/run/sshd";
        shell = "/usr/sbin/nologin";
      };
      users.groups.sshd = { };

      environment.etc = lib.mkMerge [
        { "ssh/sshd_config" = if pkgs ? debianTools then { source = checked; } else { text = configText; }; }
        (lib.mkIf (cfg.banner != null) { "ssh/banner".text = cfg.banner; })
        (lib.mapAttrs' (n: u: lib.nameValuePair "ssh/authorized_keys.d/${u.name}" {
          mode = "0444";
          text = keyFileText u;
        }) usersWithKeys)
      ];

      systemd.services.sshd = {
        description = "SSH Daemon";
        wantedBy = [ "multi-user.target" ];
        after = [ "network.target" ];
        # The privilege separation directory (root's, 0755), then the missing host keys.
        preStart = ''
          install -d -m 0755 -o root -g root /run/sshd
        '' + lib.concatMapStrings makeHostKey cfg.hostKeys;
        serviceConfig = {
          Type = "simple";
          # By absolute path, which sshd needs to re-execute itself (at every connection and
          # on SIGHUP); -e: to standard error, which the supervisor logs (there is no syslog).
          ExecStart = "/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config";
          Restart = "always";
        };
        # A new sshd_config reloads sshd (SIGHUP: it reads the file again) instead of
        # restarting it; sessions carry on either way.
        reloadTriggers = [ configText ];
      };

      networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall cfg.ports;

      security.pam.services.sshd = lib.mkIf (cfg.settings.UsePAM == true) {
        startSession = true;
        showMotd = true;
        unixAuth = cfg.settings.PasswordAuthentication == true;
      };

      environment.systemPackages = concatMap (n: lib.optional (pkgs ? ${n}) pkgs.${n})
        [ "openssh-server" "openssh-sftp-server" "openssh-client" ];
    })
  ];
}
