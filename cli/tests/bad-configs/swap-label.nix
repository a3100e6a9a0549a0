{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  swapDevices = [ { label = "a-label-of-17-chr"; } ];
}
