{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  services.openssh.enable = true;
  # Its second key line has no base64.
  users.users.dave = { isNormalUser = true; openssh.authorizedKeys.keyFiles = [ ./openssh-keys-bad.pub ]; };
}
