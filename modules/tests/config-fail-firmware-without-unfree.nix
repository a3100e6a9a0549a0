{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  hardware.enableRedistributableFirmware = true;
}
