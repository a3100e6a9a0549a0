# NixOS's encrypted block devices, which `nixos-generate-config` declares for file systems
# on LUKS. strata's initrd does not open them yet.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  luksOpts = { name, ... }: {
    options = {
      device = mkOption { type = types.str; example = "/dev/disk/by-uuid/..."; description = "The encrypted device."; };
      allowDiscards = mkOption { type = types.bool; default = false; description = "Whether TRIM requests reach the device."; };
      bypassWorkqueues = mkOption { type = types.bool; default = false; description = "Whether the kernel's work queues are bypassed (for SSDs)."; };
      keyFile = mkOption { type = types.nullOr types.str; default = null; description = "A file holding the key, instead of a passphrase."; };
      preLVM = mkOption { type = types.bool; default = true; description = "Whether the device is opened before LVM volumes are looked for."; };
    };
  };
in
{
  options.boot.initrd.luks.devices = lib.mkUnsupportedOption {
    type = types.attrsOf (types.submodule luksOpts);
    default = { };
    example = { cryptroot.device = "/dev/disk/by-uuid/..."; };
    yet = true;
    description = "Encrypted devices the initrd opens, by the name of the mapped device (/dev/mapper/<name>).";
    reason = "strata's initrd does not open LUKS devices: a file system on one is not found at boot.";
  };
}
