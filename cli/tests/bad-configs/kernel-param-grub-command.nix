{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  boot.kernelParams = [ "quiet\n}\nmenuentry evil {\nlinux /evil\n" ];
}
