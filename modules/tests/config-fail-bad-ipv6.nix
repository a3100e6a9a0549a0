{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  networking.defaultGateway6 = "2001:db8::1::2";
}
