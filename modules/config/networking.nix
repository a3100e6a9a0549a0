{ lib, ... }:
{
  options.networking.hostName = lib.mkOption {
    # RFC 1123 host name label: letters, digits and dashes, not starting or ending with a dash.
    type = lib.types.strMatching "^$|^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";
    default = "strata";
    example = "webserver";
    description = "The name of the machine (a single RFC 1123 label: letters, digits and dashes).";
  };
}
