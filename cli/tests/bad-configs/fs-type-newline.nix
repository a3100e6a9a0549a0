{
  fileSystems."/".device = "/dev/vda1";
  fileSystems."/".fsType = "ext4\nroot=/dev/evil";
  boot.loader.systemd-boot.enable = true;
}
