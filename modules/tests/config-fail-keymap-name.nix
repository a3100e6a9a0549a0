{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  console.keyMap = "de-latin1; reboot";
}
