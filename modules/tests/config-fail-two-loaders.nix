{
  boot.loader.grub.enable = true;
  boot.loader.grub.device = "/dev/vda";
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
}
