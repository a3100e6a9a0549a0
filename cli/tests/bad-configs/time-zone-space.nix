{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  time.timeZone = "Europe/Pa ris";
}
