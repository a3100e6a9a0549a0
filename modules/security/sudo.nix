# sudo (NixOS's security.sudo): Debian's sudo package, its setuid wrappers, and /etc/sudoers
# (mode 0440) rendered from the rules as NixOS renders them, after three lines of strata's:
#
#   Defaults secure_path="/run/wrappers/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#   Defaults logfile=/var/log/sudo.log    (strata runs no syslog: refusals are logged here)
#   Defaults !syslog
#
# With a package set that has `debianTools' (a tree of Debian packages for FHS-mode builds),
# the file is checked with Debian's `visudo -c' in the sandbox when the system is built; a
# rejected file fails the build naming the line and its text. Without it (an evaluation with
# no package set, or a package set without debianTools) the text is used unchecked.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.security.sudo;

  # A command (or any other word of a rule): one line, no control characters.
  sudoText = types.str // {
    name = "sudoText";
    description = "string without newlines or other control characters";
    check = x: builtins.isString x && builtins.match "[^[:cntrl:]]+" x != null;
  };
  principal = types.either types.passwdName types.ints.unsigned;

  commandOpts = {
    options = {
      command = mkOption { type = sudoText; description = "A command being allowed, preferably with the full path."; };
      options = mkOption {
        type = types.listOf (types.enum [ "NOPASSWD" "PASSWD" "NOEXEC" "EXEC" "SETENV" "NOSETENV" "LOG_INPUT" "NOLOG_INPUT" "LOG_OUTPUT" "NOLOG_OUTPUT" ]);
        default = [ ];
        description = "Options for running the command. Refer to the sudoers manual.";
      };
    };
  };

  ruleOpts = {
    options = {
      users = mkOption { type = types.listOf principal; default = [ ]; description = "The usernames / UIDs this rule should apply for."; };
      groups = mkOption { type = types.listOf principal; default = [ ]; description = "The groups / GIDs this rule should apply for."; };
      host = mkOption { type = types.word; default = "ALL"; description = "For what host this rule should apply."; };
      runAs = mkOption { type = types.word; default = "ALL:ALL"; description = "Under which user/group the specified command is allowed to run (user:group)."; };
      commands = mkOption {
        type = types.listOf (types.either sudoText (types.submodule commandOpts));
        description = "The commands for which the rule should apply.";
      };
    };
  };

  userString = u: if builtins.isInt u then "#${toString u}" else u;
  groupString = g: if builtins.isInt g then "%#${toString g}" else "%${g}";
  optionsString = opts: lib.concatStringsSep ":" opts + lib.optionalString (opts != [ ]) ": ";
  commandsString = cmds: lib.concatStringsSep ", " (map (c: if builtins.isString c then c else optionsString c.options + c.command) cmds);
  ruleLines = rule: lib.optionals (rule.commands != [ ]) (
    map (u: "${userString u}\t${rule.host}=(${rule.runAs})\t${commandsString rule.commands}") rule.users
    ++ map (g: "${groupString g}\t${rule.host}=(${rule.runAs})\t${commandsString rule.commands}") rule.groups
  );

  defaultRule = { users ? [ ], groups ? [ ], opts ? [ ] }: [{
    inherit users groups;
    commands = [{ command = "ALL"; options = opts ++ cfg.defaultOptions; }];
  }];

  # The check: Debian's visudo over the text, in FHS mode; a rejected line is named.
  checked = pkgs.runCommand "sudoers"
    {
      __strataFhs = pkgs.debianTools [ "sudo" ];
      text = cfg.configFile;
      passAsFile = [ "text" ];
    }
    ''
      if ! /usr/sbin/visudo -c -f "$textPath" > /build/visudo.log 2>&1; then
        cat /build/visudo.log >&2
        where=$(sed -n 's/^.*:\([0-9][0-9]*\):[0-9][0-9]*: \(.*\)$/\1 \2/p' /build/visudo.log | head -n 1)
        if [ -n "$where" ]; then
          n=''${where%% *}
          echo "security.sudo: /etc/sudoers line $n (\"$(sed -n "''${n}p" "$textPath")\") rejected by visudo: ''${where#* }" >&2
        else
          echo "security.sudo: /etc/sudoers rejected by visudo (its output is above)" >&2
        fi
        exit 1
      fi
      cp "$textPath" "$out"
    '';

  wrapper = source: lib.mapAttrs (n: lib.mkDefault) {
    inherit source;
    owner = "root";
    group = if cfg.execWheelOnly then "wheel" else "root";
    setuid = true;
    permissions = if cfg.execWheelOnly then "u+rx,g+x" else "u+rx,g+x,o+x";
    onlyIfPresent = true;
  };
in
{
  options.security.sudo = {
    enable = mkOption { type = types.bool; default = true; description = "Whether to enable the sudo command, which allows non-root users to execute commands as root."; };
    wheelNeedsPassword = mkOption { type = types.bool; default = true; description = "Whether users of the wheel group must provide a password to run commands as super user via sudo."; };
    execWheelOnly = mkOption { type = types.bool; default = false; description = "Only allow members of the wheel group to execute sudo by setting the executable's permissions accordingly."; };
    defaultOptions = mkOption { type = types.listOf types.word; default = [ "SETENV" ]; description = "Options used for the default rules, granting root and the wheel group permission to run any command as any user."; };
    extraRules = mkOption {
      type = types.listOf (types.submodule ruleOpts);
      default = [ ];
      example = [ { groups = [ "foo" ]; commands = [ "/home/root/secret.sh" { command = "/run/current-system/strata/bin/strata"; options = [ "SETENV" "NOPASSWD" ]; } ]; } ];
      description = "Define specific rules to be in the sudoers file. More specific rules should come after more general ones in order to yield the expected behavior. You can use mkBefore/mkAfter to ensure this is the case when configuration options are merged.";
    };
    extraConfig = mkOption { type = types.lines; default = ""; description = "Extra configuration text appended to sudoers."; };
    configFile = mkOption {
      type = types.lines;
      default = "";
      description = "This string contains the contents of the sudoers file.";
    };
  };

  config = lib.mkIf cfg.enable {
    security.sudo.extraRules = lib.mkMerge [
      (lib.mkOrder 400 (defaultRule { users = [ "root" ]; }))
      (lib.mkOrder 600 (defaultRule { groups = [ "wheel" ]; opts = lib.optional (!cfg.wheelNeedsPassword) "NOPASSWD"; }))
    ];
    security.sudo.configFile = lib.concatStrings [
      ''
        # Written by strata from security.sudo; change the configuration, not this file.
        Defaults secure_path="/run/wrappers/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        Defaults logfile=/var/log/sudo.log
        Defaults !syslog

      ''
      (lib.concatMapStrings (l: l + "\n") (lib.concatMap ruleLines cfg.extraRules))
      (lib.optionalString (cfg.extraConfig != "") "\n# extraConfig\n${cfg.extraConfig}\n")
    ];
    environment.etc.sudoers = { mode = "0440"; }
      // (if pkgs ? debianTools then { source = checked; } else { text = cfg.configFile; });
    environment.systemPackages = lib.optional (pkgs ? sudo) pkgs.sudo;
    security.wrappers = {
      sudo = wrapper "/usr/bin/sudo";
      sudoedit = wrapper "/usr/bin/sudoedit";
    };
  };
}
