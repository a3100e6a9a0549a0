{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  users.users.carol = { isNormalUser = true; home = "/var/empty"; };
}
