# NixOS's settings of Nix itself. strata has its own store and builder and runs no Nix
# daemon: these are accepted, and warned about, so that NixOS configurations evaluate.
# The exceptions are `nix.settings.substituters` and `nix.settings.trusted-public-keys`,
# which strata's builds use: they go to /etc/strata/strata.conf (nix.conf's syntax), where
# `strata build`, `switch`, `image` and `realise` read them. Unlike NixOS, the default asks
# no cache: strata's packages are Debian's, which no public binary cache holds.
{ config, lib, ... }:
let
  inherit (lib) mkUnsupportedOption types;
  noDaemon = "strata runs no Nix daemon and writes no nix.conf.";
  used = [ "substituters" "trusted-public-keys" ];
  settings = config.nix.settings;
  confValue = v: if builtins.isList v then lib.concatStringsSep " " (map toString v) else toString v;
  confText = lib.concatMapStrings (n: "${n} = ${confValue settings.${n}}\n")
    (builtins.filter (n: settings ? ${n}) used);
  noTimer = "strata does not collect garbage on a timer; run `strata collect-garbage' (with `-d' or `--delete-older-than' to drop old generations too).";
in
{
  options.nix = {
    settings = mkUnsupportedOption {
      type = types.attrsOf types.anything;
      default = { };
      example = { experimental-features = [ "nix-command" "flakes" ]; };
      description = "Settings written to nix.conf.";
      reason = "strata runs no Nix daemon and writes no nix.conf; of these settings it uses only substituters and trusted-public-keys (in /etc/strata/strata.conf).";
      quietWhen = v: builtins.removeAttrs v used == { };
    };
    extraOptions = mkUnsupportedOption {
      type = types.lines;
      default = "";
      description = "Text appended to nix.conf.";
      reason = noDaemon;
    };
    gc = {
      automatic = mkUnsupportedOption {
        type = types.bool;
        default = false;
        yet = true;
        description = "Whether to collect garbage at the times nix.gc.dates gives.";
        reason = noTimer;
      };
      dates = mkUnsupportedOption {
        type = types.singleLineStr;
        default = "03:15";
        example = "weekly";
        yet = true;
        description = "When garbage is collected, as a systemd calendar event.";
        reason = noTimer;
      };
      options = mkUnsupportedOption {
        type = types.singleLineStr;
        default = "";
        example = "--delete-older-than 30d";
        yet = true;
        description = "Options of the automatic garbage collection.";
        reason = noTimer;
      };
      persistent = mkUnsupportedOption {
        type = types.bool;
        default = true;
        yet = true;
        description = "Whether a collection missed while the machine was off runs at the next boot.";
        reason = noTimer;
      };
      randomizedDelaySec = mkUnsupportedOption {
        type = types.singleLineStr;
        default = "0";
        example = "45min";
        yet = true;
        description = "The longest random delay before each automatic collection.";
        reason = noTimer;
      };
    };
    optimise.automatic = mkUnsupportedOption {
      type = types.bool;
      default = false;
      description = "Whether to hard-link identical files of the store on a timer.";
      reason = "strata does not deduplicate the files of its store.";
    };
  };
  config = lib.mkIf (builtins.any (n: settings ? ${n}) used) {
    environment.etc."strata/strata.conf".text = confText;
  };
}
