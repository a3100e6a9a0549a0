# A generation's toplevel and its initrd.
#
# `evaluated` is what `eval-config.nix` returned (with a package set); `etc`, `manifest` and
# `strata` are store paths the builder made itself: the static /etc tree, the activation
# manifest (`activation.json`) and strata (`bin/strata`, `bin/strata-init`, its module library
# and package set). Both derivations have builders of strata's own (`builtin:strata-initrd`,
# `builtin:strata-toplevel`); what they write is described in the builder's `system` module.
{ evaluated, etc, manifest, strata }:
let
  c = evaluated.config;
  inherit (evaluated.system) kernelPackages sw;
  root = c.fileSystems."/";
  # The modules the declared file systems need (none for types built into the kernel); a FAT
  # file system (the EFI system partition at /boot) also needs the code page and the character
  # set its names use (Debian's kernel defaults to cp437 and ascii). ISO 9660's module is
  # `isofs`.
  fsModulesOf = t:
    if builtins.elem t [ "auto" "tmpfs" "ramfs" "proc" "sysfs" "devtmpfs" "none" ] then [ ]
    else if t == "vfat" then [ "vfat" "nls_cp437" "nls_ascii" ]
    else if t == "iso9660" then [ "isofs" ]
    else [ t ];
  fsModule = builtins.concatLists (map (f: fsModulesOf f.fsType) (builtins.attrValues c.fileSystems));
  strataInit = "${builtins.storePath strata}/bin/strata-init";

  # The kernel and its modules as the system carries them: the package's modules recompressed
  # (xz) and indexed, the directories of boot.kernelModuleFilter left out. The initrd and the
  # toplevel take the kernel from here, so the package itself is no part of the closure.
  kernel = derivation {
    name = "kernel";
    system = "builtin";
    builder = "builtin:strata-kernel-modules";
    inherit kernelPackages;
    moduleFilter = c.boot.kernelModuleFilter;
  };

  microcode = c.hardware.cpu.microcodePackages;
  initrd = derivation ({
    name = "initrd";
    system = "builtin";
    builder = "builtin:strata-initrd";
    inherit kernel;
    init = strataInit;
    inherit (evaluated.system) busybox;
    # Loaded at boot, in dependency order: the modules the initrd carries for the disks and
    # file systems it may meet, those it always loads, and those of the declared file systems.
    modules = c.boot.initrd.availableKernelModules ++ c.boot.initrd.kernelModules ++ fsModule;
    rootDevice = if root.device == null then "" else root.device;
    rootFsType = root.fsType;
    rootOptions = builtins.concatStringsSep "," root.options;
    compression = "zstd";
  } // (if microcode == [ ] then { } else {
    # The CPU microcode packages (hardware.cpu.*.updateMicrocode): an uncompressed archive of
    # their updates goes before the compressed initrd. Absent when there are none, so the
    # initrd of a system without them stays as it was.
    inherit microcode;
  }));
in
derivation {
  name = "strata-system-${if c.networking.hostName == "" then "unnamed" else c.networking.hostName}";
  system = "builtin";
  builder = "builtin:strata-toplevel";
  inherit kernel initrd sw;
  kernelModules = c.boot.kernelModules;
  inherit (evaluated.system) bootLoader;
  init = strataInit;
  etc = builtins.storePath etc;
  manifest = builtins.storePath manifest;
  strata = builtins.storePath strata;
  label = c.system.label;
  kernelParams = builtins.toJSON c.boot.kernelParams;
  hostSystem = "x86_64-linux";
}
