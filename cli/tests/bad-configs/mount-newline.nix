{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  fileSystems."/mnt\nx".device = "/dev/vdb";
}
