# The subset of NixOS's systemd.services that strata's init interprets.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  serviceOpts = { name, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether the service exists."; };
      description = mkOption { type = types.str; default = ""; description = "What the service is, shown in logs."; };
      wantedBy = mkOption { type = types.listOf types.unitName; default = [ ]; example = [ "multi-user.target" ]; description = "Targets that start this service."; };
      after = mkOption { type = types.listOf types.unitName; default = [ ]; description = "Services this one starts after."; };
      requires = mkOption { type = types.listOf types.unitName; default = [ ]; description = "Services this one needs running; it stops if they stop."; };
      wants = mkOption { type = types.listOf types.unitName; default = [ ]; description = "Services started along with this one."; };
      environment = mkOption { type = types.attrsNamedOf types.envVarName types.str; default = { }; description = "Environment variables of the service."; };
      path = mkOption { type = types.listOf (types.either types.package types.str); default = [ ]; description = "Packages whose bin directories go on the service's PATH."; };
      script = mkOption { type = types.lines; default = ""; description = "Shell commands that are the service (instead of serviceConfig.ExecStart)."; };
      preStart = mkOption { type = types.lines; default = ""; description = "Shell commands run before the service starts."; };
      restartIfChanged = mkOption { type = types.bool; default = true; description = "Whether a switch restarts the service when it changed."; };
      reloadIfChanged = mkOption { type = types.bool; default = false; description = "Whether a switch reloads the service (its new ExecReload) instead of restarting it when it changed."; };
      reloadTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; description = "Values whose change makes a switch reload the service instead of restarting it."; };
      serviceConfig = mkOption {
        type = types.submodule {
          options = {
            ExecStart = mkOption { type = types.nullOr types.str; default = null; description = "The command line of the service."; };
            ExecReload = mkOption { type = types.nullOr types.str; default = null; description = "The command that reloads the service."; };
            ExecStop = mkOption { type = types.nullOr types.str; default = null; description = "The command that stops the service (SIGTERM otherwise)."; };
            Type = mkOption { type = types.enum [ "simple" "oneshot" "forking" "notify" "exec" ]; default = "simple"; description = "How the service signals that it is ready."; };
            RemainAfterExit = mkOption { type = types.bool; default = false; description = "Whether a service whose process exited successfully (a oneshot, typically) stays active: a switch that changes it stops it (ExecStop) and starts it again, or reloads it (ExecReload) with reloadIfChanged."; };
            Restart = mkOption { type = types.enum [ "no" "on-success" "on-failure" "on-abnormal" "always" ]; default = "no"; description = "When the service is restarted after it exits."; };
            RestartSec = mkOption { type = types.either types.ints.unsigned types.str; default = 1; description = "Seconds to wait before a restart."; };
            User = mkOption { type = types.passwdName; default = "root"; description = "The user the service runs as."; };
            Group = mkOption { type = types.nullOr types.passwdName; default = null; description = "The group the service runs as (the user's primary group by default)."; };
            WorkingDirectory = mkOption { type = types.nullOr types.absolutePath; default = null; description = "The service's working directory."; };
          };
        };
        default = { };
        description = "The service's settings, named as in systemd unit files.";
      };
    };
  };
in
{
  options.systemd.services = mkOption {
    type = types.attrsNamedOf types.unitName (types.submodule serviceOpts);
    default = { };
    description = "Services that strata's init supervises.";
  };
}
