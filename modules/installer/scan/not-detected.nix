# Imported by the hardware-configuration.nix that `nixos-generate-config` writes on machines
# whose devices it could not all identify: their drivers may need firmware that is not free.
{ lib, ... }:
{
  hardware.enableRedistributableFirmware = lib.mkDefault true;
}
