# NixOS's privilege settings strata does not act on: RealtimeKit. sudo, PAM and the
# wrappers have modules of their own (sudo.nix, pam.nix, wrappers.nix).
{ lib, ... }:
let
  inherit (lib) mkUnsupportedOption types;
in
{
  options.security = {
    rtkit.enable = mkUnsupportedOption {
      type = types.bool;
      default = false;
      description = "Whether to run RealtimeKit, which grants real-time scheduling to sound servers.";
      reason = "strata does not run RealtimeKit.";
    };
  };
}
