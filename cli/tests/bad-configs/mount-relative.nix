{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  fileSystems."relative".device = "/dev/vdb";
}
