//! `strata eval-config` on what `nixos-generate-config` writes
//! (`examples/nixos-generated`): it evaluates, every option strata accepts without acting
//! on it is named in a warning, and options left at their defaults are not.

use crate::{eval_config, run};

fn generated() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/nixos-generated/configuration.nix")
}

/// The options the generated configuration sets that strata does not act on.
const UNSUPPORTED: &[&str] = &[
    "boot.loader.efi.canTouchEfiVariables",
    "console.font",
    "networking.networkmanager.enable",
    "programs.firefox.enable",
    "programs.gnupg.agent.enable",
    "programs.gnupg.agent.enableSSHSupport",
    "programs.mtr.enable",
    "services.pipewire.enable",
    "services.pipewire.pulse.enable",
    "services.printing.enable",
    "services.xserver.enable",
    "services.xserver.xkb.options",
    "system.copySystemConfiguration",
];

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("warning: "))
        .collect()
}

#[test]
fn generated_configuration_evaluates_with_a_warning_per_ignored_option() {
    let out = run(eval_config().args(["-f"]).arg(generated()), None).ok();
    let warned = warnings(&out.stderr);
    for name in UNSUPPORTED {
        let prefix = format!("The option `{name}' has no effect on strata");
        assert!(
            warned.iter().any(|w| w.starts_with(&prefix)),
            "no warning names `{name}`:\n{}",
            out.stderr
        );
    }
    // Nothing else: options at their defaults (i18n.defaultLocale, console.keyMap,
    // services.xserver.xkb.layout, services.libinput.enable, which follows
    // services.xserver.enable) and the options strata acts on are not warned about.
    assert_eq!(warned.len(), UNSUPPORTED.len(), "{}", out.stderr);
    let printing = warned
        .iter()
        .find(|w| w.contains("`services.printing.enable'"))
        .unwrap();
    assert_eq!(
        *printing,
        "The option `services.printing.enable' has no effect on strata: strata does not run CUPS."
    );
    // Options a later version will act on say so.
    assert!(
        warned.iter().any(|w| w.starts_with(
            "The option `networking.networkmanager.enable' has no effect on strata yet: "
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn qemu_guest_profile_adds_the_virtio_drivers_to_the_initrd() {
    let out = run(eval_config().args(["--json", "-f"]).arg(generated()), None).ok();
    let v: serde_json::Value = serde_json::from_str(&out.text()).unwrap();
    let list = |key: &str| -> Vec<String> {
        v["boot"][key]
            .as_array()
            .unwrap_or_else(|| panic!("boot.{key} is not a list: {v}"))
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect()
    };
    let available = list("initrdAvailableKernelModules");
    for m in [
        "virtio_net",
        "virtio_pci",
        "virtio_mmio",
        "virtio_blk",
        "virtio_scsi",
        "9p",
        "9pnet_virtio",
        // The hardware file's own.
        "ahci",
        "xhci_pci",
        "sr_mod",
    ] {
        assert!(
            available.iter().any(|a| a == m),
            "{m} missing: {available:?}"
        );
    }
    let loaded = list("initrdKernelModules");
    for m in ["virtio_balloon", "virtio_console", "virtio_rng"] {
        assert!(loaded.iter().any(|a| a == m), "{m} missing: {loaded:?}");
    }
    assert_eq!(v["boot"]["loader"]["systemdBoot"]["enable"], true);
    assert_eq!(
        v["fileSystems"]["/boot"]["options"],
        serde_json::json!(["fmask=0077", "dmask=0077"])
    );
    // The proxy is the one networking option strata acts on: login shells get it.
    assert_eq!(
        v["environment"]["variables"]["https_proxy"],
        "http://user:password@proxy:port/"
    );
    assert_eq!(
        v["environment"]["variables"]["no_proxy"],
        "127.0.0.1,localhost,internal.domain"
    );
}

#[test]
fn options_set_to_their_defaults_are_not_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("configuration.nix");
    std::fs::write(
        &conf,
        r#"{ lib, modulesPath, ... }:
{
  imports = [ (modulesPath + "/profiles/qemu-guest.nix") ];
  boot.loader.grub.enable = true;
  boot.loader.grub.device = "/dev/vda";
  boot.loader.efi.canTouchEfiVariables = false;
  boot.loader.efi.efiSysMountPoint = "/boot";
  boot.loader.grub.efiInstallAsRemovable = true;
  boot.loader.grub.useOSProber = false;
  boot.initrd.luks.devices = { };
  boot.kernelModules = [ ];
  boot.extraModulePackages = [ ];
  fileSystems."/" = { device = "/dev/vda1"; fsType = "ext4"; };
  swapDevices = [ ];
  networking.useDHCP = false;
  networking.interfaces.ens3.useDHCP = false;
  networking.networkmanager.enable = false;
  networking.firewall.enable = false;
  services.printing.enable = false;
  services.xserver.enable = false;
  services.openssh.enable = lib.mkDefault false;
  hardware.pulseaudio.enable = false;
  security.sudo.enable = false;
  i18n.defaultLocale = "en_US.UTF-8";
  console.keyMap = "us";
  nix.settings = { };
  nix.gc.automatic = false;
  nixpkgs.hostPlatform = "x86_64-linux";
  nixpkgs.config.allowUnfree = false;
  users.users.bob = { isNormalUser = true; packages = [ ]; };
  system.stateVersion = "24.11";
}
"#,
    )
    .unwrap();
    let out = run(eval_config().args(["-f"]).arg(&conf), None).ok();
    assert!(warnings(&out.stderr).is_empty(), "{}", out.stderr);
}

#[test]
fn options_inside_submodules_and_imported_profiles_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("configuration.nix");
    std::fs::write(
        &conf,
        r#"{ lib, modulesPath, ... }:
{
  imports = [ (modulesPath + "/installer/scan/not-detected.nix") ];
  boot.loader.grub.enable = true;
  boot.loader.grub.device = "/dev/vda";
  fileSystems."/" = { device = "/dev/vda1"; fsType = "ext4"; };
  fileSystems."/home" = { device = "/dev/vda2"; fsType = "ext4"; neededForBoot = true; };
  networking.interfaces.ens3.useDHCP = lib.mkDefault true;
  networking.interfaces.ens3.macAddress = "52:54:00:12:34:56";
  nixpkgs.config.allowUnfree = true;
  users.users.bob = { isNormalUser = true; packages = [ "/nix/store/00000000000000000000000000000000-tree" ]; };
  nix.gc = { automatic = true; dates = "weekly"; options = "--delete-older-than 30d"; };
  nix.settings.experimental-features = [ "nix-command" "flakes" ];
}
"#,
    )
    .unwrap();
    let out = run(eval_config().args(["-f"]).arg(&conf), None).ok();
    let warned = warnings(&out.stderr);
    for (name, yet) in [
        ("networking.interfaces.ens3.macAddress", true),
        ("nix.gc.automatic", true),
        ("nix.gc.dates", true),
        ("nix.gc.options", true),
        ("nix.settings", false),
        ("fileSystems.\"/home\".neededForBoot", true),
    ] {
        let prefix = format!(
            "The option `{name}' has no effect on strata{}: ",
            if yet { " yet" } else { "" }
        );
        assert!(
            warned.iter().any(|w| w.starts_with(&prefix)),
            "no warning starts with {prefix:?}:\n{}",
            out.stderr
        );
    }
    assert_eq!(warned.len(), 6, "{}", out.stderr);
}

/// What NixOS's graphical installer writes for a GNOME desktop on an encrypted disk of a
/// BIOS machine.
#[test]
fn graphical_installer_configuration_evaluates_with_a_warning_per_ignored_option() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("configuration.nix");
    std::fs::write(
        &conf,
        r#"{ config, pkgs, ... }:
{
  boot.loader.grub.enable = true;
  boot.loader.grub.device = "/dev/vda";
  boot.loader.grub.useOSProber = true;
  boot.initrd.luks.devices."luks-0d3e9a4c".device = "/dev/disk/by-uuid/0d3e9a4c-8f0b-4c55-a1b2-7d3c2e1f0a99";
  fileSystems."/" = { device = "/dev/mapper/luks-0d3e9a4c"; fsType = "ext4"; };
  networking.hostName = "nixos";
  networking.networkmanager.enable = true;
  time.timeZone = "Europe/Berlin";
  i18n.defaultLocale = "en_US.UTF-8";
  i18n.extraLocaleSettings = { LC_ADDRESS = "de_DE.UTF-8"; LC_TIME = "de_DE.UTF-8"; };
  services.xserver.enable = true;
  services.xserver.displayManager.gdm.enable = true;
  services.xserver.desktopManager.gnome.enable = true;
  services.xserver.xkb = { layout = "de"; variant = ""; };
  console.keyMap = "de-latin1";
  services.printing.enable = true;
  hardware.pulseaudio.enable = false;
  security.rtkit.enable = true;
  services.pipewire = {
    enable = true;
    alsa.enable = true;
    alsa.support32Bit = true;
    pulse.enable = true;
  };
  users.users.alice = {
    isNormalUser = true;
    description = "Alice";
    extraGroups = [ "networkmanager" "wheel" ];
    packages = with pkgs; [ ];
  };
  programs.firefox.enable = true;
  nixpkgs.config.allowUnfree = true;
  environment.systemPackages = with pkgs; [ ];
  system.stateVersion = "24.11";
}
"#,
    )
    .unwrap();
    let out = run(eval_config().args(["-f"]).arg(&conf), None).ok();
    let warned = warnings(&out.stderr);
    let expected = [
        "boot.initrd.luks.devices",
        "boot.loader.grub.useOSProber",
        "networking.networkmanager.enable",
        "programs.firefox.enable",
        "security.rtkit.enable",
        "services.pipewire.alsa.enable",
        "services.pipewire.alsa.support32Bit",
        "services.pipewire.enable",
        "services.pipewire.pulse.enable",
        "services.printing.enable",
        "services.xserver.desktopManager.gnome.enable",
        "services.xserver.displayManager.gdm.enable",
        "services.xserver.enable",
        "services.xserver.xkb.layout",
    ];
    for name in expected {
        let prefix = format!("The option `{name}' has no effect on strata");
        assert!(
            warned.iter().any(|w| w.starts_with(&prefix)),
            "no warning names `{name}`:\n{}",
            out.stderr
        );
    }
    assert_eq!(warned.len(), expected.len(), "{}", out.stderr);
}

#[test]
fn other_platforms_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("configuration.nix");
    std::fs::write(
        &conf,
        r#"{
  boot.loader.grub.enable = true;
  boot.loader.grub.device = "/dev/vda";
  fileSystems."/" = { device = "/dev/vda1"; fsType = "ext4"; };
  nixpkgs.hostPlatform = "aarch64-linux";
}
"#,
    )
    .unwrap();
    let out = run(eval_config().args(["-f"]).arg(&conf), None);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "nixpkgs.hostPlatform is `aarch64-linux', but strata builds only x86_64-linux systems."
        ),
        "{}",
        out.stderr
    );
}
