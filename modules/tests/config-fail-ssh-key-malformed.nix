{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  services.openssh.enable = true;
  # The base64 lost its last characters in a copy and paste.
  users.users.alice = {
    isNormalUser = true;
    openssh.authorizedKeys.keys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID+8KVG+rD1X3f7mfOO7TjZHw/EfgcWHnSxQC2eMYd alice@laptop" ];
  };
}
