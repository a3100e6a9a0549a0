{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  networking.interfaces.eth0.ipv4.addresses = [ { address = "192.0.2.300"; prefixLength = 24; } ];
}
