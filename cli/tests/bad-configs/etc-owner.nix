{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  environment.etc.motd = { text = "x"; mode = "0600"; user = "a:b"; };
}
