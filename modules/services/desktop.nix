# NixOS's graphical session, printing and sound services. strata runs none of them.
{ config, lib, ... }:
let
  inherit (lib) mkUnsupportedOption types;
  noGraphics = "strata does not run a graphical session (an X11 or Wayland server, a display manager or a desktop).";
  noSound = "strata does not run PipeWire.";
  flag = what: reason: mkUnsupportedOption {
    type = types.bool;
    default = false;
    description = "Whether to enable ${what}.";
    inherit reason;
  };
  desktops = names: lib.genAttrs names (n: { enable = flag "the ${n} desktop" noGraphics; });
in
{
  imports = [
    # Renamed in NixOS 24.05; older configurations still use the old name.
    (lib.mkRenamedOptionModule [ "services" "xserver" "libinput" "enable" ] [ "services" "libinput" "enable" ])
  ];

  options.services = {
    xserver = {
      enable = flag "the X11 display server" noGraphics;
      xkb = {
        layout = mkUnsupportedOption {
          type = types.str;
          default = "us";
          example = "fr";
          description = "The keyboard layout of the X11 server.";
          reason = noGraphics;
        };
        variant = mkUnsupportedOption {
          type = types.str;
          default = "";
          example = "colemak";
          description = "The variant of the keyboard layout.";
          reason = noGraphics;
        };
        options = mkUnsupportedOption {
          type = types.commas;
          default = "terminate:ctrl_alt_bksp";
          example = "eurosign:e,caps:escape";
          description = "XKB options, separated by commas.";
          reason = noGraphics;
        };
      };
      displayManager = {
        gdm.enable = flag "the GDM display manager" noGraphics;
        lightdm.enable = flag "the LightDM display manager" noGraphics;
      };
      desktopManager = desktops [ "gnome" "plasma5" "xfce" "cinnamon" "mate" "budgie" "pantheon" "lxqt" ];
    };
    displayManager = {
      sddm.enable = flag "the SDDM display manager" noGraphics;
      sddm.wayland.enable = flag "SDDM's Wayland greeter" noGraphics;
      autoLogin.enable = flag "automatic login in the display manager" noGraphics;
      autoLogin.user = mkUnsupportedOption {
        type = types.nullOr types.str;
        default = null;
        description = "The user the display manager logs in.";
        reason = noGraphics;
      };
      defaultSession = mkUnsupportedOption {
        type = types.nullOr types.str;
        default = null;
        example = "gnome";
        description = "The session the display manager starts by default.";
        reason = noGraphics;
      };
    };
    desktopManager.plasma6.enable = flag "the Plasma 6 desktop" noGraphics;
    libinput.enable = mkUnsupportedOption {
      type = types.bool;
      default = config.services.xserver.enable;
      defaultText = lib.literalExpression "config.services.xserver.enable";
      description = "Whether the graphical session takes its touchpad and mouse through libinput.";
      reason = noGraphics;
    };
    printing.enable = flag "printing with CUPS" "strata does not run CUPS.";
    pipewire = {
      enable = flag "the PipeWire sound and video server" noSound;
      pulse.enable = flag "PipeWire's PulseAudio server" noSound;
      jack.enable = flag "PipeWire's JACK server" noSound;
      alsa.enable = flag "PipeWire's ALSA plugin" noSound;
      alsa.support32Bit = flag "PipeWire's ALSA plugin for 32-bit programs" noSound;
    };
  };
}
