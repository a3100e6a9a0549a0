{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  networking.firewall.interfaces.eth0.allowedUDPPortRanges = [ { from = 6000; to = 5000; } ];
}
