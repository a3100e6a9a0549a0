# Evaluates a machine configuration against strata's option set and returns what the
# builder consumes (the `manifest`), with the warnings and the failed assertions.
#
# `pkgs` is the package set (`pkgs/default.nix` applied to the lock) or, for commands that only
# look at options, `{ }`. With a package set, `system` holds the derivations the toplevel
# (`system/toplevel.nix`) is made of: `kernelPackages` (the package `boot.kernel` names and the
# packages it depends on: a Debian meta-package such as linux-image-amd64 holds no kernel
# itself) and `sw` (the system packages joined into one tree).
{ configuration, modulesDir, extraModules ? [ ], pkgs ? { } }:
let
  lib = import ./lib;
  eval = lib.evalModules {
    modules = import ./module-list.nix ++ extraModules ++ [ configuration ];
    specialArgs = { inherit pkgs; modulesPath = modulesDir; };
  };
  c = eval.config;
  clean = v: removeAttrs v [ "_module" ];
  kernel = pkgs.${c.boot.kernel} or (throw
    "boot.kernel: the package `${c.boot.kernel}' is not in strata.lock; add it with `strata lock update ${c.boot.kernel} ...'");
in {
  inherit (eval) options config;
  system = {
    kernelPackages = [ kernel ] ++ kernel.depends;
    # The initrd's emergency shell.
    busybox = "${pkgs.busybox-static}/bin/busybox";
    # The boot loader's own files (EFI programs, GRUB's modules), which images and switches
    # install: GRUB for UEFI and BIOS, or systemd-boot.
    bootLoader = map (name: pkgs.${name} or (throw
      "the boot loader needs the package `${name}', which is not in strata.lock; add it with `strata lock update ${name} ...'"))
      (if c.boot.loader.grub.enable then [ "grub-efi-amd64-bin" "grub-pc-bin" ] else [ "systemd-boot-efi" ]);
    sw = pkgs.buildEnv {
      name = "system-path";
      # The configuration's packages first: where two packages have a file at the same place,
      # the earlier one's wins (so a Debian package's `ls` beats busybox's applet).
      paths = c.environment.systemPackages ++ c.environment.defaultPackages;
      ignoreCollisions = true;
    };
  };
  warnings = c.warnings;
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
  manifest = {
    hostName = c.networking.hostName;
    timeZone = c.time.timeZone;
    stateVersion = c.system.stateVersion;
    label = c.system.label;
    users = {
      mutableUsers = c.users.mutableUsers;
      users = builtins.mapAttrs (n: u: removeAttrs (clean u) [ "openssh" "packages" ] // { authorizedKeys = u.openssh.authorizedKeys.keys; }) c.users.users;
      groups = builtins.mapAttrs (n: g: clean g) c.users.groups;
    };
    boot = {
      loader = {
        timeout = c.boot.loader.timeout;
        efiCanTouchVariables = c.boot.loader.efi.canTouchEfiVariables;
        # The fields the builder reads (the others are NixOS's, accepted with a warning).
        grub = { inherit (c.boot.loader.grub) enable device devices efiSupport configurationLimit extraEntries; };
        systemdBoot = c.boot.loader.systemd-boot;
      };
      kernel = c.boot.kernel;
      kernelParams = c.boot.kernelParams;
      kernelModules = c.boot.kernelModules;
      kernelModuleFilter = c.boot.kernelModuleFilter;
      initrdAvailableKernelModules = c.boot.initrd.availableKernelModules;
      initrdKernelModules = c.boot.initrd.kernelModules;
    };
    fileSystems = builtins.mapAttrs (n: f: clean f) c.fileSystems;
    swapDevices = map clean c.swapDevices;
    environment = {
      systemPackages = map toString (c.environment.systemPackages ++ c.environment.defaultPackages);
      etc = builtins.mapAttrs (n: e: clean e // { source = if e.source == null then null else toString e.source; })
        (lib.filterAttrs (n: e: e.enable) c.environment.etc);
      variables = builtins.mapAttrs (n: v: if builtins.isList v then lib.concatStringsSep ":" v else v) c.environment.variables;
    };
    services = builtins.mapAttrs (n: s: removeAttrs (clean s) [ "serviceConfig" "reloadTriggers" "path" ] // {
      serviceConfig = clean s.serviceConfig // { RestartSec = toString s.serviceConfig.RestartSec; };
      path = map toString s.path;
      reloadTriggers = map (t: builtins.hashString "sha256" (builtins.toJSON t)) s.reloadTriggers;
    }) (lib.filterAttrs (n: s: s.enable) c.systemd.services);
  };
}
