{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  users.users.alice = { isNormalUser = true; description = "Alice\rroot::0:0"; };
}
