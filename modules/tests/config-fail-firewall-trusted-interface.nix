{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  networking.firewall.trustedInterfaces = [ "a-very-long-name0" ];
}
