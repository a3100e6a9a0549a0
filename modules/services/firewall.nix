# NixOS's firewall (networking.firewall), made with nftables from Debian.
#
# The options render one nftables table, `inet strata-fw`, into a store file that the
# `firewall` service loads with one `nft -f`: the file declares the table, deletes it and
# declares it in full, a single transaction, so a reload swaps the old rules for the new ones
# with no moment between them. Incoming traffic is dropped unless it is on loopback or a
# trusted interface, belongs to a connection already allowed, or is let in by `input-allow`:
# ICMPv4 echo requests (allowPing), ICMPv6 (all but redirects and node information queries,
# as NixOS), DHCPv6 replies to the client, the allowed ports and ranges (global and per
# interface; `interfaces.default' means every interface, as with NixOS) and
# extraInputRules. With checkReversePath, a `rpfilter` chain drops packets whose source
# address would not be routed back through the interface they came in on. Forwarded and
# outgoing traffic is not filtered.
#
# With a package set that has `debianTools', the rule set is checked when the system is built:
# Debian's `nft --check` in an FHS-mode derivation, in a user and network namespace of its
# own (the sandbox's build user has no CAP_NET_ADMIN, and the check asks the kernel); a
# rejected line fails the build naming it (a build host that refuses the namespaces builds
# the rule set unchecked, and its build log says so). The service runs the nft of that tree
# through its own loader and libraries, so stopping a firewall that the new generation no
# longer has works after /usr has moved on; `nft` is in the system's packages for the admin.
# Without a package set (`strata eval-config`, the module tests) the rules and commands are
# rendered but nothing is checked.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkUnsupportedOption types concatStringsSep concatMapStrings optional optionals optionalString;
  cfg = config.networking.firewall;

  table = "strata-fw";

  inherit (types) interfaceName;

  range = types.submodule {
    options = {
      from = mkOption { type = types.port; description = "The first port of the range."; };
      to = mkOption { type = types.port; description = "The last port of the range."; };
    };
  };

  portOptions = {
    allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      example = [ 22 80 ];
      description = "TCP ports on which incoming connections are accepted.";
    };
    allowedUDPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      example = [ 53 ];
      description = "UDP ports on which incoming packets are accepted.";
    };
    allowedTCPPortRanges = mkOption {
      type = types.listOf range;
      default = [ ];
      example = [ { from = 8999; to = 9003; } ];
      description = "Ranges of TCP ports on which incoming connections are accepted.";
    };
    allowedUDPPortRanges = mkOption {
      type = types.listOf range;
      default = [ ];
      example = [ { from = 60000; to = 61000; } ];
      description = "Ranges of UDP ports on which incoming packets are accepted.";
    };
  };

  # The global settings and those of `interfaces.default', which (as with NixOS) means every
  # interface; then each other interface's.
  lists = [ "allowedTCPPorts" "allowedUDPPorts" "allowedTCPPortRanges" "allowedUDPPortRanges" ];
  global = lib.genAttrs lists (l: cfg.${l} ++ (cfg.interfaces.default.${l} or [ ]));
  perInterface = removeAttrs cfg.interfaces [ "default" ];

  quote = s: "\"${s}\"";
  portSet = ports:
    let ps = lib.unique (builtins.sort builtins.lessThan ports); in
    if builtins.length ps == 1 then toString (builtins.head ps)
    else "{ ${concatStringsSep ", " (map toString ps)} }";
  rangeText = r: if r.from == r.to then toString r.from else "${toString r.from}-${toString r.to}";

  portRules = match: c:
    optional (c.allowedTCPPorts != [ ]) "${match}tcp dport ${portSet c.allowedTCPPorts} accept"
    ++ map (r: "${match}tcp dport ${rangeText r} accept") c.allowedTCPPortRanges
    ++ optional (c.allowedUDPPorts != [ ]) "${match}udp dport ${portSet c.allowedUDPPorts} accept"
    ++ map (r: "${match}udp dport ${rangeText r} accept") c.allowedUDPPortRanges;

  # Rule lines as the configuration gives them (extraInputRules), one a line, indented.
  userLines = text: lib.filter (l: builtins.match "[[:space:]]*" l == null) (lib.splitString "\n" text);

  strict = cfg.checkReversePath == true || cfg.checkReversePath == "strict";

  chain = name: lines: "  chain ${name} {\n" + concatMapStrings (l: "    ${l}\n") lines + "  }\n";

  rpfilterRules = [
    "type filter hook prerouting priority mangle + 10; policy drop;"
    # A DHCPv4 exchange happens before the address it is about is routed.
    "meta nfproto ipv4 udp sport . udp dport { 67 . 68, 68 . 67 } accept"
    "fib saddr . mark ${optionalString strict ". iif "}oif exists accept"
  ] ++ userLines cfg.extraReversePathFilterRules
    ++ optional cfg.logReversePathDrops ''log level info prefix "rpfilter drop: "'';

  inputRules = [
    "type filter hook input priority filter; policy drop;"
    ''iifname "lo" accept''
  ] ++ optional (cfg.trustedInterfaces != [ ])
    "iifname { ${concatStringsSep ", " (map quote (lib.unique cfg.trustedInterfaces))} } accept"
  ++ [
    "ct state vmap { invalid : drop, established : accept, related : accept, new : jump input-allow, untracked : jump input-allow }"
  ] ++ optional cfg.logRefusedConnections
    ''tcp flags & (fin | syn | rst | ack) == syn log level info prefix "refused connection: "''
  ++ optionals (cfg.logRefusedPackets && !cfg.logRefusedUnicastsOnly) [
    ''meta pkttype broadcast log level info prefix "refused broadcast: "''
    ''meta pkttype multicast log level info prefix "refused multicast: "''
  ]
  # Broadcasts and multicasts are dropped unlogged (unless asked above) and never answered.
  ++ optional (cfg.logRefusedPackets || cfg.rejectPackets) "meta pkttype != host drop"
  ++ optional cfg.logRefusedPackets ''log level info prefix "refused packet: "''
  ++ optionals cfg.rejectPackets [ "meta l4proto tcp reject with tcp reset" "reject" ];

  inputAllowRules =
    optional cfg.allowPing ("icmp type echo-request "
      + optionalString (cfg.pingLimit != null) "limit rate ${cfg.pingLimit} " + "accept")
    ++ [
      # IPv6 needs ICMPv6 (neighbour discovery, router advertisements, packet too big, ...);
      # echo requests are always answered, as with NixOS.
      "icmpv6 type != { nd-redirect, 139 } accept"
      # DHCPv6 servers answer the client on its link-local address, from another address
      # than the one asked (a multicast group): no connection to match.
      "ip6 daddr fe80::/64 udp dport 546 accept"
    ]
    ++ portRules "" global
    ++ lib.concatLists (lib.mapAttrsToList (name: c: portRules "iifname ${quote name} " c) perInterface)
    ++ userLines cfg.extraInputRules;

  ruleset = ''
    # Written by strata from networking.firewall; change the configuration, not this file.
    # One transaction: the table is declared (so that deleting it cannot fail), deleted and
    # declared again in full.
    table inet ${table}
    delete table inet ${table}
    table inet ${table} {
  '' + concatStringsSep "\n" (optional (cfg.checkReversePath != false) (chain "rpfilter" rpfilterRules)
    ++ [ (chain "input" inputRules) (chain "input-allow" inputAllowRules) ]) + "}\n";

  # Debian's nft, and the tree of it and its libraries that the check and the service use.
  withDebian = pkgs ? debianTools;
  tools = pkgs.debianTools [ "nftables" ];
  libDir = "${tools}/usr/lib/x86_64-linux-gnu";
  nftBin = pkgs.writeShellScriptBin "nft" ''
    exec ${libDir}/ld-linux-x86-64.so.2 --library-path ${libDir} ${tools}/usr/sbin/nft "$@"
  '';

  # nft --check sends the rules to the kernel, which wants CAP_NET_ADMIN over a network
  # namespace; the build user has none over the sandbox's, but is root in a user namespace
  # of its own and in the network namespace made with it.
  checked = pkgs.runCommand "strata-fw.nft"
    {
      __strataFhs = tools;
      text = ruleset;
      passAsFile = [ "text" ];
    }
    ''
      if unshare -rn true 2> /build/unshare.log; then
        if ! unshare -rn /usr/sbin/nft --check --file "$textPath" > /build/nft.log 2>&1; then
          cat /build/nft.log >&2
          where=$(sed -n 's/^[^:]*:\([0-9][0-9]*\):[0-9-]*: Error: \(.*\)$/\1 \2/p' /build/nft.log | head -n 1)
          if [ -n "$where" ]; then
            n=''${where%% *}
            line=$(sed -n "''${n}p" "$textPath" | sed 's/^ *//')
            echo "networking.firewall: line $n of the rule set (\"$line\") rejected by nft: ''${where#* }" >&2
          else
            echo "networking.firewall: the rule set was rejected by nft (its output is above)" >&2
          fi
          exit 1
        fi
      else
        echo "networking.firewall: the rule set is not checked: the build sandbox allows no user namespace inside it ($(cat /build/unshare.log))" >&2
      fi
      cp "$textPath" "$out"
    '';

  rulesFile =
    if withDebian then checked
    else if pkgs ? writeText then pkgs.writeText "strata-fw.nft" ruleset
    else builtins.toFile "strata-fw.nft" ruleset;

  # A command of the service, from its lines: a store script, or without a package set its
  # text for `sh`.
  command = name: body:
    let
      lines = [ "set -e" ] ++ optional withDebian "PATH=${nftBin}/bin:$PATH" ++ body;
      text = concatMapStrings (l: l + "\n") (lib.filter (l: l != "") (map (lib.removeSuffix "\n") lines));
    in
    if pkgs ? writeShellScript then "${pkgs.writeShellScript name text}"
    else "sh -c ${lib.escapeShellArg text}";

  start = command "firewall-start" [ "nft -f ${rulesFile}" cfg.extraCommands ];
  stop = command "firewall-stop" [
    "if nft list table inet ${table} > /dev/null 2>&1; then nft delete table inet ${table}; fi"
    cfg.extraStopCommands
  ];

  rangeChecks = where: c: lib.concatMap (l:
    map (r: {
      assertion = r.from <= r.to;
      message = "${where}.${l}: the range ${toString r.from}-${toString r.to} ends before it starts (`from' must not be greater than `to')";
    }) c.${l}) [ "allowedTCPPortRanges" "allowedUDPPortRanges" ];
in
{
  options.networking.firewall = portOptions // {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to enable the firewall: incoming traffic is refused unless a rule below lets it in.";
    };
    interfaces = mkOption {
      type = types.attrsNamedOf interfaceName (types.submodule { options = portOptions; });
      default = { };
      example = { eth0.allowedTCPPorts = [ 80 443 ]; };
      description = "Ports accepted only on the named interface; `default' means every interface.";
    };
    trustedInterfaces = mkOption {
      type = types.listOf interfaceName;
      default = [ ];
      example = [ "enp0s2" ];
      description = "Interfaces whose traffic is accepted entirely (loopback always is).";
    };
    allowPing = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to answer incoming ICMPv4 echo requests (pings). ICMPv6 pings are always answered.";
    };
    pingLimit = mkOption {
      type = types.nullOr (types.strMatching "[^\"\n]+");
      default = null;
      example = "1/minute burst 5 packets";
      description = "With allowPing, a rate limit on pings, written as nftables' `limit rate' takes it.";
    };
    logRefusedConnections = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to log refused incoming TCP connections (prefix \"refused connection: \", in the kernel log).";
    };
    logRefusedPackets = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to log every refused incoming packet (prefix \"refused packet: \"), not just connection attempts.";
    };
    logRefusedUnicastsOnly = mkOption {
      type = types.bool;
      default = true;
      description = "With logRefusedPackets, whether to log refused unicast packets only, not broadcasts and multicasts.";
    };
    rejectPackets = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to answer refused packets (TCP reset, ICMP port unreachable) instead of dropping them silently.";
    };
    checkReversePath = mkOption {
      type = types.either types.bool (types.enum [ "strict" "loose" ]);
      default = true;
      description = "Whether to drop packets whose source address is not routed back through the interface they came in on (true or \"strict\"), or through any interface (\"loose\").";
    };
    logReversePathDrops = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to log the packets checkReversePath drops (prefix \"rpfilter drop: \").";
    };
    extraReversePathFilterRules = mkOption {
      type = types.lines;
      default = "";
      example = ''iifname "wg0" accept'';
      description = "nftables rules inserted in the reverse path filter, before its drop: packets they accept bypass it.";
    };
    extraInputRules = mkOption {
      type = types.lines;
      default = "";
      example = "ip saddr 192.0.2.0/24 tcp dport 5432 accept";
      description = "nftables rules inserted in the chain that lets new incoming traffic in (input-allow).";
    };
    extraCommands = mkOption {
      type = types.lines;
      default = "";
      example = "nft add rule inet strata-fw input-allow ip saddr 192.0.2.7 accept";
      description = "Shell commands run after the rule set is loaded (and again at each reload), with nft on PATH. They should be safe to run twice.";
    };
    extraStopCommands = mkOption {
      type = types.lines;
      default = "";
      description = "Shell commands run when the firewall stops, after its table is deleted.";
    };
    filterForward = mkUnsupportedOption {
      type = types.bool;
      default = false;
      yet = true;
      description = "Whether to filter forwarded traffic.";
      reason = "the firewall filters incoming traffic only.";
    };
    extraForwardRules = mkUnsupportedOption {
      type = types.lines;
      default = "";
      yet = true;
      description = "nftables rules for forwarded traffic.";
      reason = "the firewall filters incoming traffic only.";
    };
    ruleset = mkOption {
      type = types.lines;
      readOnly = true;
      description = "The nftables rule set strata renders from these options, which the firewall service loads (read-only).";
    };
  };

  config = lib.mkMerge [
    { networking.firewall.ruleset = ruleset; }
    (lib.mkIf cfg.enable {
      assertions = rangeChecks "networking.firewall" cfg
        ++ lib.concatLists (lib.mapAttrsToList (n: rangeChecks "networking.firewall.interfaces.${n}") cfg.interfaces)
        ++ [{
          assertion = cfg.pingLimit == null || !(lib.hasPrefix "--" cfg.pingLimit);
          message = "networking.firewall.pingLimit: strata's firewall is nftables: write the limit as nft does (like \"1/minute burst 5 packets\"), not as iptables' flags";
        }];
      environment.systemPackages = optional (pkgs ? nftables) pkgs.nftables;
      systemd.services.firewall = {
        description = "Firewall";
        # Before the network comes up: the network's services order themselves after
        # network-pre.target.
        wantedBy = [ "multi-user.target" "network-pre.target" ];
        reloadIfChanged = true;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = start;
          ExecReload = start;
          ExecStop = stop;
        };
      };
    })
  ];
}
