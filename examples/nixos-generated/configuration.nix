# The configuration.nix that `nixos-generate-config` writes (NixOS 24.11's template), with
# its suggestions taken: the lines it leaves commented out are set here, except those that
# need packages by name (`with pkgs; [ ... ]`), which stay commented out. strata accepts
# every option; those it does not act on are reported with a warning.
{ config, lib, pkgs, ... }:

{
  imports =
    [ # The result of the hardware scan.
      ./hardware-configuration.nix
    ];

  # Boot with systemd-boot, the EFI boot loader.
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;

  networking.hostName = "nixos"; # The machine's name.
  # One of these two ways of getting on the network:
  # networking.wireless.enable = true;  # wireless networks through wpa_supplicant.
  networking.networkmanager.enable = true;  # NetworkManager, as most distributions do.

  # The time zone.
  time.timeZone = "Europe/Amsterdam";

  # A proxy, where the network needs one.
  networking.proxy.default = "http://user:password@proxy:port/";
  networking.proxy.noProxy = "127.0.0.1,localhost,internal.domain";

  # Language and console.
  i18n.defaultLocale = "en_US.UTF-8";
  console = {
    font = "Lat2-Terminus16";
    keyMap = "us";
    # useXkbConfig = true; # the console follows the X11 keyboard settings (xkb.options).
  };

  # The X11 display server.
  services.xserver.enable = true;

  # The keyboard layout in X11.
  services.xserver.xkb.layout = "us";
  services.xserver.xkb.options = "eurosign:e,caps:escape";

  # Printing through CUPS.
  services.printing.enable = true;

  # Sound: PulseAudio,
  # hardware.pulseaudio.enable = true;
  # or PipeWire.
  services.pipewire = {
    enable = true;
    pulse.enable = true;
  };

  # Touchpads (most desktops turn this on themselves).
  services.libinput.enable = true;

  # A user account; give it a password with `passwd'.
  users.users.alice = {
    isNormalUser = true;
    extraGroups = [ "wheel" ]; # wheel: may use sudo.
    # packages = with pkgs; [
    #   tree
    # ];
  };

  programs.firefox.enable = true;

  # The packages of the system profile.
  environment.systemPackages = [ ];
  # environment.systemPackages = with pkgs; [
  #   vim # an editor for configuration.nix
  #   wget
  # ];

  # Programs that need setuid wrappers or run in users' sessions.
  programs.mtr.enable = true;
  programs.gnupg.agent = {
    enable = true;
    enableSSHSupport = true;
  };

  # Services:

  # The OpenSSH server.
  services.openssh.enable = true;

  # Ports the firewall lets in.
  networking.firewall.allowedTCPPorts = [ 22 80 ];
  networking.firewall.allowedUDPPorts = [ 53 ];
  # Or no firewall at all.
  # networking.firewall.enable = false;

  # A copy of this file in the system (/run/current-system/configuration.nix), in case the
  # original is lost.
  system.copySystemConfiguration = true;

  # The release this machine was installed with: stateful data keeps that release's
  # defaults. Set once and left alone, even after upgrades.
  system.stateVersion = "24.11"; # Read the comment before changing it.
}
