{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  console.keyMap = "/etc/my.kmap";
}
