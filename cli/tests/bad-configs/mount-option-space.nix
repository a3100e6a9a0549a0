{
  fileSystems."/".device = "/dev/vda1";
  fileSystems."/".options = [ "noatime rw" ];
  boot.loader.systemd-boot.enable = true;
}
