{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  boot.kernelParams = [ "console=ttyS0\ninit=/bin/sh" ];
}
