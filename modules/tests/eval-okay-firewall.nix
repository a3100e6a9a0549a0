# networking.firewall: the nftables rule set strata renders (NixOS's defaults; then ports,
# ranges, per-interface ports, trusted interfaces, no ping, every refused packet logged and
# answered, loose reverse path checking, extra rules), the service that loads it, and no
# service when the firewall is off.
let
  eval = configuration: (import ../eval-config.nix { inherit configuration; modulesDir = ../.; }).config;
  default = eval { };
  custom = eval {
    networking.firewall = {
      allowedTCPPorts = [ 80 22 443 22 ];
      allowedUDPPorts = [ 53 ];
      allowedTCPPortRanges = [ { from = 8000; to = 8010; } { from = 9000; to = 9000; } ];
      allowedUDPPortRanges = [ { from = 60000; to = 61000; } ];
      interfaces.eth0 = { allowedTCPPorts = [ 3000 ]; allowedUDPPortRanges = [ { from = 5000; to = 5100; } ]; };
      interfaces."wg*".allowedUDPPorts = [ 51820 51821 ];
      interfaces.default.allowedTCPPorts = [ 8080 ];
      trustedInterfaces = [ "br0" "lxc0" ];
      allowPing = false;
      logRefusedPackets = true;
      logRefusedUnicastsOnly = false;
      rejectPackets = true;
      checkReversePath = "loose";
      logReversePathDrops = true;
      extraInputRules = ''
        ip saddr 192.0.2.0/24 tcp dport 5432 accept

        ip6 saddr 2001:db8::/32 tcp dport 5432 accept
      '';
    };
  };
  service = c: let s = c.systemd.services.firewall; in {
    inherit (s) wantedBy reloadIfChanged;
    inherit (s.serviceConfig) Type RemainAfterExit;
  };
in
{
  default = default.networking.firewall.ruleset;
  custom = custom.networking.firewall.ruleset;
  pingLimited = (eval { networking.firewall = { pingLimit = "2/second"; logRefusedConnections = false; checkReversePath = false; }; }).networking.firewall.ruleset;
  service = service default;
  disabled = (eval { networking.firewall.enable = false; }).systemd.services ? firewall;
}
