# The machine's name, /etc/hosts, and NixOS's network options: interfaces, addresses,
# gateways, DNS (tasks/network-interfaces.nix acts on them; services/firewall.nix holds the
# firewall) and the proxy, which login shells get as environment variables.
{ config, lib, ... }:
let
  inherit (lib) mkOption mkUnsupportedOption types;
  cfg = config.networking;
  ipAddress = types.ipAddress;
  # A host name or a dotted domain name: labels of letters, digits and dashes.
  hostNameType = types.strMatching "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?([.][A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*";

  # An address of an interface, NixOS's shape.
  addressOpts = addrType: maxPrefix: {
    options.address = mkOption { type = addrType; description = "The address."; };
    options.prefixLength = mkOption { type = types.ints.between 0 maxPrefix; description = "The length of the network prefix."; };
  };

  interfaceOpts = { name, ... }: {
    options = {
      useDHCP = mkOption {
        type = types.nullOr types.bool;
        default = null;
        description = "Whether the interface gets its address by DHCP; null follows networking.useDHCP, except that an interface with static addresses does not.";
      };
      ipv4.addresses = mkOption {
        type = types.listOf (types.submodule (addressOpts types.ipv4Address 32));
        default = [ ];
        example = [ { address = "192.0.2.10"; prefixLength = 24; } ];
        description = "Static IPv4 addresses of the interface.";
      };
      ipv6.addresses = mkOption {
        type = types.listOf (types.submodule (addressOpts types.ipv6Address 128));
        default = [ ];
        example = [ { address = "2001:db8::10"; prefixLength = 64; } ];
        description = "Static IPv6 addresses of the interface.";
      };
      mtu = mkOption {
        type = types.nullOr (types.ints.between 68 65536);
        default = null;
        description = "The interface's MTU; null leaves the driver's.";
      };
      ipv4.routes = mkUnsupportedOption {
        type = types.listOf types.attrs;
        default = [ ];
        yet = true;
        quietWhen = v: v == [ ];
        description = "Static IPv4 routes of the interface.";
        reason = "strata sets only the default gateway (networking.defaultGateway).";
      };
      ipv6.routes = mkUnsupportedOption {
        type = types.listOf types.attrs;
        default = [ ];
        yet = true;
        quietWhen = v: v == [ ];
        description = "Static IPv6 routes of the interface.";
        reason = "strata sets only the default gateway (networking.defaultGateway6).";
      };
      macAddress = mkUnsupportedOption {
        type = types.nullOr types.str;
        default = null;
        yet = true;
        quietWhen = v: v == null;
        description = "The MAC address the interface is given.";
        reason = "strata keeps the hardware's MAC address.";
      };
    };
  };

  gatewayOpts = addrType: {
    options = {
      address = mkOption { type = addrType; description = "The gateway's address."; };
      interface = mkOption { type = types.nullOr types.interfaceName; default = null; description = "The interface the gateway is reached through."; };
      metric = mkOption { type = types.nullOr types.ints.unsigned; default = null; description = "The route's metric."; };
    };
  };
  gateway = addrType: mkOption {
    type = types.nullOr (types.coercedTo types.str (address: { inherit address; }) (types.submodule (gatewayOpts addrType)));
    default = null;
    example = "192.0.2.1";
    description = "The default gateway: an address, or { address; interface; metric; }.";
  };

  proxy = what: mkOption {
    type = types.nullOr types.str;
    default = cfg.proxy.default;
    defaultText = lib.literalExpression "config.networking.proxy.default";
    description = "The proxy for ${what}; login shells get it in the usual environment variables.";
  };
in
{
  options.networking = {
    hostName = mkOption {
      # RFC 1123 host name label: letters, digits and dashes, not starting or ending with a dash.
      type = types.strMatching "^$|^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";
      default = "strata";
      example = "webserver";
      description = "The name of the machine (a single RFC 1123 label: letters, digits and dashes).";
    };
    hosts = mkOption {
      type = types.attrsNamedOf ipAddress (types.listOf hostNameType);
      default = { };
      example = { "192.0.2.10" = [ "db.example" "db" ]; };
      description = "Static addresses of host names: /etc/hosts, besides localhost (127.0.0.1 and ::1) and the machine's own name (127.0.0.2, as NixOS).";
    };
    extraHosts = mkOption {
      type = types.lines;
      default = "";
      example = "192.0.2.11 cache.example";
      description = "Lines appended to /etc/hosts as they are.";
    };
    useDHCP = mkOption {
      type = types.bool;
      default = true;
      description = "Whether every Ethernet interface without static addresses (or a useDHCP of its own) gets its address by DHCP (dhcpcd).";
    };
    interfaces = mkOption {
      type = types.attrsNamedOf types.interfaceName (types.submodule interfaceOpts);
      default = { };
      example = { eth0.ipv4.addresses = [ { address = "192.0.2.10"; prefixLength = 24; } ]; };
      description = "The network interfaces' settings.";
    };
    defaultGateway = gateway types.ipv4Address;
    defaultGateway6 = gateway types.ipv6Address;
    nameservers = mkOption {
      type = types.listOf types.ipAddress;
      default = [ ];
      example = [ "9.9.9.9" ];
      description = "The DNS servers the machine asks. When empty, DHCP's leases name them.";
    };
    search = mkOption {
      type = types.listOf hostNameType;
      default = [ ];
      example = [ "example.com" ];
      description = "The domains /etc/resolv.conf searches short names in.";
    };
    domain = mkOption {
      type = types.nullOr hostNameType;
      default = null;
      example = "example.com";
      description = "The machine's domain (/etc/resolv.conf's `domain', and the host's full name in /etc/hosts).";
    };
    enableIPv6 = mkOption {
      type = types.bool;
      default = true;
      description = "Whether the kernel uses IPv6 (addresses, router advertisements).";
    };
    dhcpcd = {
      wait = mkOption {
        type = types.enum [ "background" "any" "ipv4" "ipv6" "both" "if-carrier-up" ];
        default = "any";
        description = "What network-online.target waits for: an address of either family (any), of one, of both, or nothing (background).";
      };
      extraConfig = mkOption {
        type = types.lines;
        default = "";
        description = "Lines appended to dhcpcd's configuration.";
      };
    };
    networkmanager.enable = mkUnsupportedOption {
      type = types.bool;
      default = false;
      yet = true;
      description = "Whether NetworkManager manages the network.";
      reason = "strata does not run NetworkManager.";
    };
    wireless.enable = mkUnsupportedOption {
      type = types.bool;
      default = false;
      yet = true;
      description = "Whether wpa_supplicant joins wireless networks.";
      reason = "strata does not run wpa_supplicant.";
    };
    proxy = {
      default = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "http://user:password@proxy:port/";
        description = "The proxy for every protocol without one of its own; login shells get it in the usual environment variables.";
      };
      httpProxy = proxy "HTTP (http_proxy)";
      httpsProxy = proxy "HTTPS (https_proxy)";
      ftpProxy = proxy "FTP (ftp_proxy)";
      rsyncProxy = proxy "rsync (rsync_proxy)";
      allProxy = proxy "every protocol (all_proxy)";
      noProxy = mkOption {
        type = types.nullOr types.str;
        default = "127.0.0.1,localhost";
        example = "127.0.0.1,localhost,.localdomain";
        description = "Hosts reached without the proxy (no_proxy), when a proxy is set.";
      };
    };
  };

  # /etc/hosts: localhost, the machine's own name (so programs such as sudo resolve it without
  # a network), networking.hosts and extraHosts.
  config.networking.hosts = {
    "127.0.0.1" = [ "localhost" ];
    "::1" = [ "localhost" ];
  } // lib.optionalAttrs (cfg.hostName != "") {
    # With a domain, the full name first (what `hostname -f` prints), as NixOS writes it.
    "127.0.0.2" = lib.optional (cfg.domain != null) "${cfg.hostName}.${cfg.domain}" ++ [ cfg.hostName ];
  };
  config.environment.etc.hosts.text =
    lib.concatStrings (lib.mapAttrsToList (addr: names: "${addr} ${lib.concatStringsSep " " names}\n")
      (lib.filterAttrs (a: n: n != [ ]) cfg.hosts))
    + cfg.extraHosts + lib.optionalString (cfg.extraHosts != "" && !(lib.hasSuffix "\n" cfg.extraHosts)) "\n";

  # Programs read the lower-case names, some only the upper-case ones: both are set.
  config.environment.variables =
    let
      set = lib.filterAttrs (n: v: v != null) {
        http_proxy = cfg.proxy.httpProxy;
        https_proxy = cfg.proxy.httpsProxy;
        ftp_proxy = cfg.proxy.ftpProxy;
        rsync_proxy = cfg.proxy.rsyncProxy;
        all_proxy = cfg.proxy.allProxy;
      };
      vars = set // lib.optionalAttrs (set != { } && cfg.proxy.noProxy != null) { no_proxy = cfg.proxy.noProxy; };
    in
      vars // lib.mapAttrs' (n: v: lib.nameValuePair (lib.toUpper n) v) vars;
}
