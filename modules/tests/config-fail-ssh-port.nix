{
  boot.loader.systemd-boot.enable = true;
  fileSystems."/".device = "/dev/vda1";
  services.openssh.enable = true;
  # Named, so that the error's text does not depend on where the test lives.
  imports = [ { _file = "configuration.nix"; services.openssh.ports = [ 22 70000 ]; } ];
}
