{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  fileSystems."/data" = { device = "/dev/vdb"; mountPoint = "data"; };
}
