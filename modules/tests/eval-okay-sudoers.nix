# /etc/sudoers as NixOS renders it, after strata's three lines: the default rules, without a
# password for wheel, and a rule with a uid, a gid, a host, a runAs and command options.
let
  sudoers = configuration: (import ../eval-config.nix { inherit configuration; modulesDir = ../.; }).config.environment.etc.sudoers;
  default = sudoers { };
in
{
  default = default.text;
  mode = default.mode;
  noPassword = (sudoers { security.sudo.wheelNeedsPassword = false; }).text;
  rules = (sudoers {
    security.sudo.defaultOptions = [ ];
    security.sudo.extraRules = [
      { users = [ 1000 "alice" ]; groups = [ 100 ]; host = "saguaro"; runAs = "root";
        commands = [ "/usr/bin/true" { command = "/usr/bin/systemctl restart x"; options = [ "NOPASSWD" "SETENV" ]; } ]; }
      { users = [ "bob" ]; commands = [ ]; }
    ];
    security.sudo.extraConfig = "Defaults:alice timestamp_timeout=0";
  }).text;
  wrappers = builtins.mapAttrs (n: w: { inherit (w) source group permissions setuid; })
    (import ../eval-config.nix { configuration = { security.sudo.execWheelOnly = true; }; modulesDir = ../.; }).manifest.security.wrappers;
  disabled = (import ../eval-config.nix { configuration = { security.sudo.enable = false; }; modulesDir = ../.; }).config.environment.etc ? sudoers;
}
