{
  fileSystems."/".device = "/dev/vda1";
  boot.loader.systemd-boot.enable = true;
  # An escape character (ESC) inside a parameter: a terminal control sequence in the menu.
  boot.kernelParams = [ (builtins.fromJSON "\"quiet\\u001b[2J\"") ];
}
