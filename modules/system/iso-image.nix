# Settings of the ISO image `strata image --format iso` makes (see profiles/live-iso.nix, which
# uses them). Declared for every configuration, so one configuration.nix serves disks and ISOs.
{ lib, ... }:
{
  options.isoImage.volumeID = lib.mkOption {
    type = lib.types.strMatching "[A-Z0-9_]{1,32}";
    default = "STRATA_LIVE";
    description = "The ISO 9660 volume label of the live medium: GRUB and stage 1 find the medium by it (upper-case letters, digits and `_', at most 32).";
  };
}
