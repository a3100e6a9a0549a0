{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  users.users.alice = { isNormalUser = true; uid = 1001; };
  users.users.bob = { isNormalUser = true; uid = 1001; };
}
