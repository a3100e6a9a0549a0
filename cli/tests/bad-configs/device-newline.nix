{
  fileSystems."/".device = "/dev/vda1\nfstype=vfat";
  boot.loader.systemd-boot.enable = true;
}
