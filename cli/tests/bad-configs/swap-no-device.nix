{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  swapDevices = [ { size = 16; } ];
}
