# NixOS's hardware settings: firmware, CPU microcode and the sound server.
{ config, lib, ... }:
let
  inherit (lib) mkUnsupportedOption types;
  noFirmware = "strata does not install firmware packages.";
  noMicrocode = "strata does not load CPU microcode updates.";
in
{
  imports = [
    # Renamed in NixOS 24.11; older configurations still use the old name.
    (lib.mkRenamedOptionModule [ "hardware" "opengl" "enable" ] [ "hardware" "graphics" "enable" ])
  ];

  options.hardware = {
    enableRedistributableFirmware = mkUnsupportedOption {
      type = types.bool;
      default = false;
      yet = true;
      description = "Whether to install firmware whose licence allows redistribution.";
      reason = noFirmware;
    };
    enableAllFirmware = mkUnsupportedOption {
      type = types.bool;
      default = false;
      yet = true;
      description = "Whether to install all firmware, free or not.";
      reason = noFirmware;
    };
    cpu.intel.updateMicrocode = mkUnsupportedOption {
      type = types.bool;
      default = false;
      yet = true;
      description = "Whether to update the microcode of Intel processors at boot.";
      reason = noMicrocode;
    };
    cpu.amd.updateMicrocode = mkUnsupportedOption {
      type = types.bool;
      default = false;
      yet = true;
      description = "Whether to update the microcode of AMD processors at boot.";
      reason = noMicrocode;
    };
    bluetooth.enable = mkUnsupportedOption {
      type = types.bool;
      default = false;
      description = "Whether to run the Bluetooth service.";
      reason = "strata does not run a Bluetooth service.";
    };
    graphics.enable = mkUnsupportedOption {
      type = types.bool;
      default = false;
      description = "Whether to install the graphics drivers (OpenGL, Vulkan) of graphical sessions.";
      reason = "strata does not run a graphical session and installs no graphics drivers.";
    };
    pulseaudio.enable = mkUnsupportedOption {
      type = types.bool;
      default = false;
      description = "Whether to run the PulseAudio sound server.";
      reason = "strata does not run PulseAudio.";
    };
  };
  # Removed from NixOS in 24.05, but older configurations still set it.
  options.sound.enable = mkUnsupportedOption {
    type = types.bool;
    default = false;
    description = "Whether to configure ALSA sound.";
    reason = "strata does not configure sound.";
  };
  options.powerManagement.cpuFreqGovernor = mkUnsupportedOption {
    type = types.nullOr types.str;
    default = null;
    example = "ondemand";
    description = "The CPU frequency governor set at boot.";
    reason = "strata does not set the CPU frequency governor; the kernel's default applies.";
  };
}
