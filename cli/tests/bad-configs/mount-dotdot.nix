{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  fileSystems."/mnt/../etc".device = "/dev/vdb";
}
