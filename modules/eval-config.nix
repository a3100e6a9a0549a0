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
  shellPath = import ./programs/shell-path.nix { inherit lib; };
  kernel = pkgs.${c.boot.kernel} or (throw
    "boot.kernel: the Debian suite strata.lock pins has no package `${c.boot.kernel}'");
  bootLoader = map (name: pkgs.${name} or (throw
    "the boot loader needs the package `${name}', which the Debian suite strata.lock pins does not have"))
    (if c.boot.loader.grub.enable then [ "grub-efi-amd64-bin" "grub-pc-bin" ] else [ "systemd-boot-efi" ]);
  systemRoots = c.environment.systemPackages ++ c.environment.defaultPackages;

  # Packages of Debian's contrib, non-free and non-free-firmware components need
  # nixpkgs.config.allowUnfree: checked over everything the system is made of.
  closureOf = roots: if pkgs ? debianClosure then pkgs.debianClosure roots else [ ];
  allRoots = systemRoots ++ [ kernel ] ++ bootLoader ++ c.hardware.cpu.microcodePackages;
  nonFree = builtins.filter (p: (p.component or "main") != "main") (closureOf allRoots);
  wantedBy = p: lib.findFirst (r: builtins.any (q: (q.pname or null) == p.pname) (closureOf [ r ])) null allRoots;
  freeCheck =
    if c.nixpkgs.config.allowUnfree || nonFree == [ ] then true
    else
      let
        p = builtins.head nonFree;
        root = wantedBy p;
        via = if root == null || (root.pname or null) == p.pname then "" else " (wanted by ${root.pname or root.name})";
      in
      throw "${p.pname}${via} is in Debian's ${p.component} component; set nixpkgs.config.allowUnfree = true to use it";
in rec {
  inherit (eval) options config;
  system = {
    kernelPackages = [ kernel ] ++ kernel.depends;
    # The initrd's emergency shell.
    busybox = "${pkgs.busybox-static}/bin/busybox";
    # The boot loader's own files (EFI programs, GRUB's modules), which images and switches
    # install: GRUB for UEFI and BIOS, or systemd-boot.
    inherit bootLoader;
    # The generation's userspace: the packages, their dependencies and (unless turned off)
    # Debian's essential set, joined into one usr-merged tree (/usr on the machine).
    sw = assert freeCheck; pkgs.usrTree {
      name = "system-path";
      packages = closureOf (systemRoots
        ++ lib.optionals c.environment.debian.essential (pkgs.debianEssential or [ ]));
      inherit (c.environment.debian) alternatives collisions allowConflicts strictLibraries extraLdSoConf;
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
      users = builtins.mapAttrs (n: u: removeAttrs (clean u) [ "openssh" "packages" ] // {
        authorizedKeys = u.openssh.authorizedKeys.keys;
        shell = shellPath u.shell;
      }) c.users.users;
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
    consoleKeyMap = if c.console.keyMapFile == null then null else toString c.console.keyMapFile;
    sshPorts = if c.services.openssh.enable then c.services.openssh.ports else [ ];
    environment = {
      systemPackages = map toString (c.environment.systemPackages ++ c.environment.defaultPackages);
      etc = builtins.mapAttrs (n: e: clean e // {
        source = if e.source == null then null else toString e.source;
        # A string (not a path value) outside the store: a link to a file made at run time.
        outsideStore = builtins.isString e.source && !(lib.hasPrefix "${builtins.storeDir}/" e.source);
      })
        (lib.filterAttrs (n: e: e.enable) c.environment.etc);
      variables = builtins.mapAttrs (n: v: if builtins.isList v then lib.concatStringsSep ":" v else v) c.environment.variables;
    };
    services = builtins.mapAttrs (n: s: removeAttrs (clean s) [ "serviceConfig" "reloadTriggers" "path" ] // {
      serviceConfig = clean s.serviceConfig // { RestartSec = toString s.serviceConfig.RestartSec; };
      path = map toString s.path;
      reloadTriggers = map (t: builtins.hashString "sha256" (builtins.toJSON t)) s.reloadTriggers;
    }) (lib.filterAttrs (n: s: s.enable) c.systemd.services);
    security = {
      wrappers = if !c.security.enableWrappers then { } else builtins.mapAttrs (n: w: {
        inherit (w) source owner group permissions capabilities setuid setgid onlyIfPresent;
        program = if w.program == null then n else w.program;
      }) (lib.filterAttrs (n: w: w.enable) c.security.wrappers);
      # The tree wrappers' sources are looked up in (built before the manifest is written).
      packages = if pkgs ? buildEnv then toString system.sw else null;
    };
  };
}
