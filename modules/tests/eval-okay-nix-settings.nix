# nix.settings: substituters and trusted-public-keys become /etc/strata/strata.conf, quietly;
# any other setting is warned about; with neither, no file.
let
  eval = configuration: import ../eval-config.nix { inherit configuration; modulesDir = ../.; };
  caches = eval {
    nix.settings.substituters = [ "http://10.0.0.2:8080" "file:///srv/cache" ];
    nix.settings.trusted-public-keys = [ "fleet-1:AAAAC3NzaC1lZDI1NTE5AAAAIB5m8HxT0p2yZ0gUpF7dBG4XbLrM3UtQj3BoR1W0Y2Zx" ];
  };
  other = eval { nix.settings.max-jobs = 4; nix.settings.substituters = "file:///srv/cache"; };
  none = eval { };
  warned = e: builtins.filter (w: builtins.match ".*nix\\.settings.*" w != null) e.config.warnings;
in
{
  conf = caches.config.environment.etc."strata/strata.conf".text;
  quiet = warned caches;
  otherConf = other.config.environment.etc."strata/strata.conf".text;
  otherWarned = warned other;
  noFile = none.config.environment.etc ? "strata/strata.conf";
}
