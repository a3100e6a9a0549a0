{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  hardware.cpu.intel.updateMicrocode = true;
}
