# NixOS's hardware settings: firmware, CPU microcode and the sound server.
#
# Firmware: Debian's firmware packages join the system's packages, so their files are in the
# generation's /usr/lib/firmware, which the kernel reads as /lib/firmware (its default search
# path; /lib is a link into /usr). Only the running system's kernel finds them: firmware a
# module needs while the initrd runs (a disk controller's) is not put into the initrd.
#
# Microcode: Debian's intel-microcode and amd64-microcode become the early, uncompressed cpio
# archive placed before the compressed initrd (`kernel/x86/microcode/GenuineIntel.bin`,
# `AuthenticAMD.bin`), from which the kernel updates every processor before anything else
# runs (`builtin:strata-initrd`'s `microcode` attribute).
#
# Debian ships the non-free parts in its non-free-firmware component, which strata installs
# only with `nixpkgs.config.allowUnfree = true`: asking for them without it is an error saying
# so (at evaluation, naming the option).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkUnsupportedOption types;
  cfg = config.hardware;
  unfree = config.nixpkgs.config.allowUnfree;

  # Debian's free firmware (main).
  freeFirmware = [ "firmware-linux-free" "firmware-ath9k-htc" ];
  # The redistributable firmware of the kernel's linux-firmware collection, as Debian splits
  # it (source package firmware-nonfree), and the sound and Wi-Fi firmware NixOS adds to it.
  redistributableFirmware = [
    "firmware-amd-graphics" "firmware-atheros" "firmware-bnx2" "firmware-bnx2x"
    "firmware-brcm80211" "firmware-cavium" "firmware-intel-sound" "firmware-iwlwifi"
    "firmware-libertas" "firmware-misc-nonfree" "firmware-myricom" "firmware-netronome"
    "firmware-netxen" "firmware-qcom-soc" "firmware-qlogic" "firmware-realtek"
    "firmware-samsung" "firmware-siano" "firmware-ti-connectivity" "firmware-sof-signed"
    "firmware-zd1211"
  ];
  # The rest: firmware whose licence Debian asks to accept at installation (strata runs no
  # installation dialogue, so setting enableAllFirmware is the acceptance), and the board
  # firmware of other source packages. (NVIDIA's GSP firmware is left out: only NVIDIA's own
  # driver, which Debian's kernel does not carry, uses it.)
  otherFirmware = [ "firmware-ipw2x00" "firmware-ivtv" "firmware-ast" "firmware-realtek-rtl8723cs-bt" ];

  # Without allowUnfree, enableRedistributableFirmware installs the free part and says what it
  # leaves out (nixos-generate-config turns it on for every machine: such a configuration must
  # evaluate as it is).
  firmwareNames = lib.optionals cfg.enableRedistributableFirmware
      (freeFirmware ++ lib.optionals unfree redistributableFirmware)
    ++ lib.optionals cfg.enableAllFirmware otherFirmware;

  # A package of the pinned suite (evaluations without a package set leave it out).
  debianPackage = option: name: pkgs.${name} or (throw
    "${option}: the Debian suite strata.lock pins has no package `${name}'");
  withPackages = pkgs ? debianClosure;

  microcodeNames = lib.optional cfg.cpu.intel.updateMicrocode "intel-microcode"
    ++ lib.optional cfg.cpu.amd.updateMicrocode "amd64-microcode";

  needsUnfree = option: on: what: {
    assertion = !on || unfree;
    message = "${option}: ${what} is in Debian's non-free-firmware component; set nixpkgs.config.allowUnfree = true to use it (or turn the option off)";
  };
in
{
  imports = [
    # Renamed in NixOS 24.11; older configurations still use the old name.
    (lib.mkRenamedOptionModule [ "hardware" "opengl" "enable" ] [ "hardware" "graphics" "enable" ])
  ];

  options.hardware = {
    enableRedistributableFirmware = mkOption {
      type = types.bool;
      default = cfg.enableAllFirmware;
      defaultText = lib.literalExpression "config.hardware.enableAllFirmware";
      description = "Whether to install the firmware whose licence allows redistribution: Debian's free firmware and the firmware of the kernel's linux-firmware collection (Wi-Fi, graphics, network and sound firmware: the packages firmware-linux-free, firmware-iwlwifi, firmware-realtek, firmware-misc-nonfree, ...), in /lib/firmware. Most of it is in Debian's non-free-firmware component: without nixpkgs.config.allowUnfree only the free part is installed, with a warning. The firmware is not put into the initrd: a driver that needs firmware before the root file system is mounted does not get it.";
    };
    enableAllFirmware = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to install all firmware Debian has, whatever its licence (this implies enableRedistributableFirmware and needs nixpkgs.config.allowUnfree): also firmware whose licence Debian asks to accept at installation (firmware-ipw2x00, firmware-ivtv) and the graphics and board firmware of other packages. Firmware Debian does not ship but downloads at installation (firmware-b43-installer) is not installed.";
    };
    cpu.intel.updateMicrocode = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to update the microcode of Intel processors at boot, from Debian's intel-microcode (non-free-firmware: needs nixpkgs.config.allowUnfree), placed before the initrd where the kernel loads it first.";
    };
    cpu.amd.updateMicrocode = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to update the microcode of AMD processors at boot, from Debian's amd64-microcode (non-free-firmware: needs nixpkgs.config.allowUnfree), placed before the initrd where the kernel loads it first.";
    };
    cpu.microcodePackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      internal = true;
      description = "strata: the packages whose lib/firmware/intel-ucode/* and lib/firmware/amd-ucode/*.bin become the early microcode archive before the initrd (set by cpu.*.updateMicrocode).";
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
  config = {
    assertions = [
      (needsUnfree "hardware.enableAllFirmware" cfg.enableAllFirmware "the firmware it adds")
      (needsUnfree "hardware.cpu.intel.updateMicrocode" cfg.cpu.intel.updateMicrocode "intel-microcode")
      (needsUnfree "hardware.cpu.amd.updateMicrocode" cfg.cpu.amd.updateMicrocode "amd64-microcode")
    ];
    warnings = lib.optional (cfg.enableRedistributableFirmware && !unfree)
      "hardware.enableRedistributableFirmware installs only Debian's free firmware (firmware-linux-free): the rest (firmware-iwlwifi, firmware-realtek, firmware-misc-nonfree, ...) is in Debian's non-free-firmware component; set nixpkgs.config.allowUnfree = true to install it too.";
    environment.systemPackages = lib.optionals withPackages
      (map (debianPackage "hardware.enableRedistributableFirmware") firmwareNames);
    hardware.cpu.microcodePackages = lib.optionals withPackages
      (map (debianPackage "hardware.cpu.*.updateMicrocode") microcodeNames);

    # strata runs no udev: the drivers of the hardware present at boot (network cards above
    # all) are loaded once by their modaliases, with Debian's modprobe, before the network
    # comes up. Hardware plugged in later needs `modprobe' or boot.kernelModules.
    systemd.services.kmod-coldplug = lib.mkIf (pkgs ? kmod) {
      description = "Load the kernel modules of the hardware present at boot";
      wantedBy = [ "multi-user.target" ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
      };
      script = ''
        find /sys/devices -name modalias -type f -exec cat {} + 2>/dev/null | sort -u |
          xargs -r modprobe --all --use-blacklist --quiet || true
      '';
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
