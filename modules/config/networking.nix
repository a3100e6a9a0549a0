# The machine's name, /etc/hosts, and NixOS's network settings. strata does not configure
# network interfaces yet: those settings are accepted with a warning, except the proxy, which
# login shells get as environment variables.
{ config, lib, ... }:
let
  inherit (lib) mkOption mkUnsupportedOption types;
  cfg = config.networking;
  noInterfaces = "strata does not configure network interfaces.";
  # An IPv4 or IPv6 address as /etc/hosts writes it.
  ipAddress = types.strMatching "[0-9]{1,3}([.][0-9]{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*";
  # A host name or a dotted domain name: labels of letters, digits and dashes.
  hostNameType = types.strMatching "[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?([.][A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*";

  interfaceOpts = { name, ... }: {
    options = {
      useDHCP = mkUnsupportedOption {
        type = types.nullOr types.bool;
        default = null;
        yet = true;
        # Quiet unless DHCP is asked for: strata does none.
        quietWhen = v: v != true;
        description = "Whether the interface gets its address by DHCP; null follows networking.useDHCP.";
        reason = noInterfaces;
      };
      ipv4.addresses = mkUnsupportedOption {
        type = types.listOf (types.submodule {
          options.address = mkOption { type = types.str; description = "The IPv4 address."; };
          options.prefixLength = mkOption { type = types.ints.between 0 32; description = "The length of the network prefix."; };
        });
        default = [ ];
        yet = true;
        description = "Static IPv4 addresses of the interface.";
        reason = noInterfaces;
      };
    };
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
    useDHCP = mkUnsupportedOption {
      type = types.bool;
      default = true;
      yet = true;
      # NixOS's default asks for DHCP, which strata does not do: quiet only when not asked for.
      quietWhen = v: !v;
      description = "Whether every interface without settings of its own gets its address by DHCP.";
      reason = noInterfaces;
    };
    interfaces = mkOption {
      type = types.attrsOf (types.submodule interfaceOpts);
      default = { };
      example = { eth0.useDHCP = true; };
      description = "The network interfaces' settings.";
    };
    nameservers = mkUnsupportedOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "9.9.9.9" ];
      yet = true;
      description = "The DNS servers the machine asks.";
      reason = "strata does not write /etc/resolv.conf.";
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
  } // lib.optionalAttrs (cfg.hostName != "") { "127.0.0.2" = [ cfg.hostName ]; };
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
