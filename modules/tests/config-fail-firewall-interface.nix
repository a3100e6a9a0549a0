{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  networking.firewall.interfaces."eth0:1".allowedTCPPorts = [ 80 ];
}
