# A strata machine: the configuration a new user starts from.
{ config, lib, pkgs, ... }:
{
  networking.hostName = "saguaro";
  time.timeZone = "America/Phoenix";

  boot.loader.grub.enable = true;
  boot.loader.grub.device = "/dev/vda";
  boot.loader.timeout = 3;

  fileSystems."/" = {
    device = "/dev/disk/by-label/strata";
    fsType = "ext4";
  };
  # The EFI system partition, where the boot menu lives: switches rewrite it.
  fileSystems."/boot" = {
    device = "/dev/disk/by-label/ESP";
    fsType = "vfat";
  };

  users.users.alice = {
    isNormalUser = true;
    description = "Alice";
    extraGroups = [ "wheel" ];
    initialPassword = "changeme";
  };

  environment.etc."motd".text = ''
    Welcome to ${config.networking.hostName}, a strata machine.
  '';

  systemd.services.hello = {
    description = "Say hello once the machine is up";
    wantedBy = [ "multi-user.target" ];
    serviceConfig.Type = "oneshot";
    script = ''
      echo "hello from ${config.networking.hostName}"
    '';
  };

  system.stateVersion = "24.11";
}
