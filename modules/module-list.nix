# Every module of strata's system option set.
[
  ./misc/assertions.nix
  ./system/system.nix
  ./config/networking.nix
  ./config/time.nix
  ./config/users.nix
  ./config/environment.nix
  ./boot/loader.nix
  ./boot/kernel.nix
  ./tasks/filesystems.nix
  ./system/services.nix
  ./system/iso-image.nix
  ./testing/command-channel.nix
]
