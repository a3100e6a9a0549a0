{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  boot.initrd.kernelModules = [ "ext4 evil" ];
}
