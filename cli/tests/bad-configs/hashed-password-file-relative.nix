{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  users.users.alice = { isNormalUser = true; hashedPasswordFile = "secrets/alice"; };
}
