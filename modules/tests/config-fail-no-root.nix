{
  boot.loader.systemd-boot.enable = true;
}
