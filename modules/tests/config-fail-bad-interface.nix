{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  networking.interfaces."eth0/../x".useDHCP = true;
}
