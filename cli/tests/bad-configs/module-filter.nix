{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  boot.kernelModuleFilter = [ "sound" "drivers/../gpu" ];
}
