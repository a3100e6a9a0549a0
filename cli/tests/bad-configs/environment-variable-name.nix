{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  environment.variables."X=1; rm -rf /; Y" = "z";
}
