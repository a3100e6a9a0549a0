{
  boot.loader.grub.enable = true;
  boot.loader.grub.device = "/dev/vda";
  fileSystems."/".device = "/dev/vda1";
  nixpkgs.hostPlatform = { system = "aarch64-linux"; };
}
