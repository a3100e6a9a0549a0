# /etc/hosts, /etc/resolv.conf and /etc/environment as networking.* and environment.variables
# write them (without a package set, so no DHCP: resolv.conf is the configuration's).
let
  etc = configuration: (import ../eval-config.nix { inherit configuration; modulesDir = ../.; }).config.environment.etc;
  named = etc {
    networking.hostName = "saguaro";
    networking.domain = "example.test";
    networking.nameservers = [ "192.0.2.53" "2001:db8::53" ];
    networking.search = [ "example.test" "lab.example.test" ];
    networking.hosts."192.0.2.10" = [ "db.example.test" "db" ];
    networking.extraHosts = "192.0.2.11 cache";
    environment.variables = { EDITOR = "vim"; ODD = "say \"hi\""; };
  };
in
{
  hosts = named.hosts.text;
  resolv = named."resolv.conf".text;
  environment = named.environment.text;
  default = (etc { }).hosts.text;
}
