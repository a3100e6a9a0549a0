{ config, lib, pkgs, ... }:
{
  options.time.timeZone = lib.mkOption {
    type = lib.types.nullOr lib.types.timeZone;
    default = null;
    example = "America/Phoenix";
    description = "The time zone, as a name from the tz database (`/usr/share/zoneinfo`); null keeps UTC.";
  };
  # The zone database /etc/localtime points into (`/etc/zoneinfo/<zone>`).
  config.environment.etc = lib.mkIf (pkgs ? tzdata) {
    zoneinfo.source = "${pkgs.tzdata}/usr/share/zoneinfo";
  };
}
