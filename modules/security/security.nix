# NixOS's privilege settings: sudo and RealtimeKit. strata installs no sudo yet.
{ lib, ... }:
let
  inherit (lib) mkUnsupportedOption types;
  noSudo = "strata does not install sudo.";
in
{
  options.security = {
    sudo.enable = mkUnsupportedOption {
      type = types.bool;
      default = true;
      yet = true;
      # NixOS's default installs sudo, which strata does not: quiet only when not asked for.
      quietWhen = v: !v;
      description = "Whether to install sudo.";
      reason = noSudo;
    };
    sudo.wheelNeedsPassword = mkUnsupportedOption {
      type = types.bool;
      default = true;
      yet = true;
      description = "Whether members of the group wheel give their password to sudo.";
      reason = noSudo;
    };
    rtkit.enable = mkUnsupportedOption {
      type = types.bool;
      default = false;
      description = "Whether to run RealtimeKit, which grants real-time scheduling to sound servers.";
      reason = "strata does not run RealtimeKit.";
    };
  };
}
