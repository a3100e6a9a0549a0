# Where a machine of a fleet file (`strata deploy -f fleet.nix`) is reached and how it is
# picked. Evaluated with each machine of a fleet only: a configuration.nix of its own has no
# `deployment` options, and setting them there is an error, as any unknown option is.
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.deployment = {
    targetHost = mkOption {
      # What ssh takes as a host: a name or an address, never an option.
      type = types.nullOr (types.strMatching "[A-Za-z0-9_.:%][A-Za-z0-9_.:%-]*");
      default = null;
      example = "web1.example.org";
      description = "The host name or address `strata deploy` reaches the machine at over SSH. A machine without one is refused (and the others deployed).";
    };
    targetPort = mkOption {
      type = types.nullOr types.port;
      default = null;
      example = 2222;
      description = "The SSH port; null uses ssh's own default (22, or what ~/.ssh/config says).";
    };
    targetUser = mkOption {
      type = types.nullOr (types.strMatching "[A-Za-z0-9_][A-Za-z0-9_.-]*");
      default = "root";
      description = "The user `strata deploy` logs in as. Another user than root runs strata there through `sudo -n` (a NOPASSWD rule is needed); null uses ssh's own default user.";
    };
    tags = mkOption {
      type = types.listOf (types.strMatching "[A-Za-z0-9_.-]+");
      default = [ ];
      example = [ "web" "eu" ];
      description = "Names for groups of machines: `strata deploy --on @web` picks the machines tagged `web`.";
    };
  };
}
