# The machine's network, from networking.* (options in config/networking.nix), as NixOS's
# scripted networking does it:
#
# - `network-setup` (a oneshot that stays active) brings up `lo` and every interface named in
#   networking.interfaces, gives them their static addresses and MTU, and sets the default
#   gateways; stopping it (a switch that changes them) takes back what it set. Debian's `ip`.
# - `dhcpcd` (Debian's dhcpcd-base) asks for addresses on the interfaces NixOS's rules give
#   it: every one but `lo` and those with static addresses when networking.useDHCP is on,
#   else those with useDHCP = true. Its hook (strata's own) keeps /run/strata/resolv.conf
#   from the leases; /etc/resolv.conf links there unless networking.nameservers names the
#   servers, when it is a file of the generation.
# - `network-wait-online` is what network-online.target waits for: an address from DHCP
#   (networking.dhcpcd.wait), at most 30 seconds; services ordered after
#   network-online.target start after it.
#
# All of this needs the Debian package set; with the test stub (no iproute2) nothing is made.
{ config, lib, pkgs, ... }:
let
  cfg = config.networking;
  inherit (lib) concatStringsSep concatMapStrings optionalString mapAttrsToList filterAttrs;
  have = pkgs ? iproute2;
  interfaces = mapAttrsToList (name: i: i // { inherit name; }) cfg.interfaces;
  hasStatic = i: i.ipv4.addresses != [ ] || i.ipv6.addresses != [ ];
  # NixOS's rule: an interface left to networking.useDHCP does DHCP unless it has static
  # addresses.
  ignored = map (i: i.name) (builtins.filter (i: if i.useDHCP != null then !i.useDHCP else hasStatic i) interfaces);
  asked = map (i: i.name) (builtins.filter (i: i.useDHCP == true) interfaces);
  dhcp = cfg.useDHCP || asked != [ ];
  q = lib.escapeShellArg;

  addrs = i: map (a: { family = "-4"; cidr = "${a.address}/${toString a.prefixLength}"; }) i.ipv4.addresses
    ++ map (a: { family = "-6"; cidr = "${a.address}/${toString a.prefixLength}"; }) i.ipv6.addresses;
  gateways = lib.filter (g: g.gw != null) [
    { family = "-4"; gw = cfg.defaultGateway; }
    { family = "-6"; gw = cfg.defaultGateway6; }
  ];
  route = g: "default via ${g.gw.address}"
    + optionalString (g.gw.interface != null) " dev ${q g.gw.interface}"
    + optionalString (g.gw.metric != null) " metric ${toString g.gw.metric}";

  setup = ''
    # Waits (at most 10 s) for a driver to bring up the interface $1.
    present() {
      n=0
      while [ ! -e "/sys/class/net/$1" ]; do
        n=$((n + 1))
        [ "$n" -le 100 ] || return 1
        sleep 0.1
      done
    }
    failed=""
    ${optionalString (!cfg.enableIPv6) ''
      echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
      echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
    ''}
    ip link set lo up
    ${concatMapStrings (i: ''
      if present ${q i.name}; then
        ip link set dev ${q i.name} up${optionalString (i.mtu != null) " mtu ${toString i.mtu}"}
        ${concatMapStrings (a: ''
          ip ${a.family} addr replace ${a.cidr} dev ${q i.name}
        '') (addrs i)}
      else
        echo "network-setup: there is no interface ${i.name} (networking.interfaces.${i.name}); is its driver loaded?" >&2
        failed=1
      fi
    '') interfaces}
    ${concatMapStrings (g: ''
      ip ${g.family} route replace ${route g} || { echo "network-setup: cannot set the default route ${g.gw.address}" >&2; failed=1; }
    '') gateways}
    [ -z "$failed" ]
  '';
  # Takes back what `setup` set, when a switch stops or changes the service.
  teardown = pkgs.writeShellScript "network-setup-stop" ''
    ${concatMapStrings (g: ''
      ip ${g.family} route del ${route g} 2>/dev/null || true
    '') gateways}
    ${concatMapStrings (i: concatMapStrings (a: ''
      ip ${a.family} addr del ${a.cidr} dev ${q i.name} 2>/dev/null || true
    '') (addrs i)) interfaces}
  '';

  # Names dhcpcd never touches: loopback and the usual virtual interfaces, as NixOS.
  denied = [ "lo" "peth*" "vif*" "tap*" "tun*" "virbr*" "vnet*" "vboxnet*" "sit*" ] ++ ignored;
  dhcpcdConf = pkgs.writeText "dhcpcd.conf" (''
    # dhcpcd's configuration, written by strata from networking.*.
    hostname
    option domain_name_servers, domain_name, domain_search
    option classless_static_routes, interface_mtu
    option rapid_commit
    require dhcp_server_identifier
    slaac private
    noipv4ll
    # A restarted dhcpcd keeps the addresses it gave, so a switch keeps connections.
    persistent
    denyinterfaces ${concatStringsSep " " denied}
  '' + optionalString (!cfg.useDHCP) ''
    allowinterfaces ${concatStringsSep " " asked}
  '' + optionalString (!cfg.enableIPv6) ''
    noipv6
  '' + cfg.dhcpcd.extraConfig);

  # dhcpcd runs this on each event of an interface; it keeps the name servers of every lease in
  # /run/strata/resolv.conf.d/<interface>.<protocol> and joins them into /run/strata/resolv.conf,
  # which /etc/resolv.conf links to.
  searchConf = if cfg.search != [ ] then "search ${concatStringsSep " " cfg.search}"
    else optionalString (cfg.domain != null) "search ${cfg.domain}";
  hook = pkgs.writeShellScript "dhcpcd-hook" ''
    PATH=/run/current-system/sw/bin
    dir=/run/strata/resolv.conf.d
    mkdir -p "$dir"
    # One file per interface and source: DHCPv4's, DHCPv6's and router advertisements'
    # (RDNSS and DNSSL, RFC 8106) events come apart.
    case "$reason" in
    ROUTERADVERT)
      key="$interface.ra" servers="" search=""
      for i in 1 2 3 4; do
        for p in "" new_; do
          eval "servers=\"\$servers \''${''${p}nd''${i}_rdnss1_servers-}\""
          eval "search=\"\$search \''${''${p}nd''${i}_dnssl1_search-}\""
        done
      done
      ;;
    *6) key="$interface.6" servers="$new_dhcp6_name_servers" search="$new_dhcp6_domain_search" ;;
    *) key="$interface.4" servers="$new_domain_name_servers" search="$new_domain_search" ;;
    esac
    case "$reason" in
    BOUND | RENEW | REBIND | REBOOT | INFORM | STATIC | BOUND6 | RENEW6 | REBIND6 | REBOOT6 | INFORM6 | ROUTERADVERT)
      [ -n "$(echo $search)" ] || search="$new_domain_name"
      echo "$interface: $reason: name servers:''${servers:- none}"
      {
        for s in $servers; do echo "nameserver $s"; done
        for d in $search; do echo "search $d"; done
      } > "$dir/$key.tmp"
      mv "$dir/$key.tmp" "$dir/$key"
      ;;
    EXPIRE | EXPIRE6 | FAIL | NAK | RELEASE | RELEASE6 | STOP | STOP6)
      rm -f "$dir/$key"
      ;;
    NOCARRIER | DEPARTED)
      rm -f "$dir/$interface.4" "$dir/$interface.6" "$dir/$interface.ra"
      ;;
    *) exit 0 ;;
    esac
    {
      echo "# Written by strata from the DHCP leases (networking.nameservers is empty)."
      ${if searchConf != "" then "echo ${q searchConf}" else ''
        s=$(cat "$dir"/* 2>/dev/null | sed -n 's/^search //p' | tr '\n' ' ')
        [ -z "$s" ] || echo "search ''${s% }"''}
      cat "$dir"/* 2>/dev/null | grep '^nameserver ' || true
      echo "options edns0"
    } > /run/strata/resolv.conf.tmp
    mv /run/strata/resolv.conf.tmp /run/strata/resolv.conf
  '';

  online = {
    any = "ip -o addr show scope global | grep -q .";
    if-carrier-up = "ip -o addr show scope global | grep -q .";
    ipv4 = "ip -o -4 addr show scope global | grep -q .";
    ipv6 = "ip -o -6 addr show scope global | grep -q .";
    both = "ip -o -4 addr show scope global | grep -q . && ip -o -6 addr show scope global | grep -q .";
  };
in
{
  config = lib.mkMerge [
    {
      # Every network setting is checked by its type, also where nothing reads it (a package
      # set without iproute2), so a bad address is refused the same everywhere.
      assertions = [ {
        assertion = builtins.deepSeq [ cfg.interfaces cfg.defaultGateway cfg.defaultGateway6 cfg.nameservers cfg.search cfg.domain ] true;
        message = "unreachable";
      } ];
      # /etc/resolv.conf: the configuration's servers, or a link to what DHCP's hook writes.
      environment.etc."resolv.conf" =
        if cfg.nameservers == [ ] && dhcp && have then { source = "/run/strata/resolv.conf"; }
        else {
          text = "# Written by strata from networking.nameservers.\n"
            + optionalString (searchConf != "") "${searchConf}\n"
            + concatMapStrings (s: "nameserver ${s}\n") cfg.nameservers
            + "options edns0\n";
        };
    }
    (lib.mkIf have {
      environment.systemPackages = [ pkgs.iproute2 ] ++ lib.optional dhcp pkgs.dhcpcd-base;

      systemd.services.network-setup = {
        description = "Bring up the network interfaces and their static addresses";
        wantedBy = [ "multi-user.target" "network.target" ];
        after = [ "network-pre.target" "kmod-coldplug.service" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStop = "${teardown}";
        };
        script = setup;
      };
    })
    (lib.mkIf (have && dhcp) {
      users.users.dhcpcd = {
        isSystemUser = true;
        group = "dhcpcd";
        description = "DHCP client";
        # dhcpcd's privilege separation chroots here (Debian's choice: root's, read-only).
        home = "/usr/lib/dhcpcd";
      };
      users.groups.dhcpcd = { };

      systemd.services.dhcpcd = {
        description = "DHCP client";
        wantedBy = [ "multi-user.target" "network.target" ];
        after = [ "network-setup.service" "kmod-coldplug.service" ];
        preStart = "mkdir -p /var/lib/dhcpcd /run/strata";
        serviceConfig = {
          ExecStart = "dhcpcd --nobackground --nodev --config ${dhcpcdConf} --script ${hook}";
          Restart = "always";
        };
      };

      systemd.services.network-wait-online = lib.mkIf (cfg.dhcpcd.wait != "background") {
        description = "Wait for an address from DHCP (networking.dhcpcd.wait = \"${cfg.dhcpcd.wait}\")";
        wantedBy = [ "network-online.target" ];
        after = [ "dhcpcd.service" "network-setup.service" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = ''
          n=0
          until ${online.${cfg.dhcpcd.wait}}; do
            n=$((n + 1))
            if [ "$n" -ge 300 ]; then
              echo "no address from DHCP after 30 s; going on without" >&2
              exit 0
            fi
            sleep 0.1
          done
        '';
      };
    })
  ];
}
