//! Scenario 2: a raw image with GRUB boots under BIOS (SeaBIOS), configured as declared; with
//! the QEMU guest profile, so its kernel modules are strata's (xz, a module filter): the
//! initrd's load, a `boot.kernelModules` module is loaded in stage 2 from the compressed
//! tree, and a `swapDevices` file is created and in use.

use strata_qemu_tests::Firmware;

use super::{boot, check_example, disk, ok, power_off};
use crate::system::shared;

/// The example with the QEMU guest profile, a stage-2 module and a swap file.
fn with_modules_and_swap(text: String) -> String {
    text.replace(
        "{ config, lib, pkgs, ... }:",
        "{ config, lib, pkgs, modulesPath, ... }:",
    )
    .replace(
        "  system.stateVersion",
        "  imports = [ (modulesPath + \"/profiles/qemu-guest.nix\") ];\n  \
         boot.kernelModules = [ \"dummy\" ];\n  \
         swapDevices = [ { device = \"/var/swapfile\"; size = 16; priority = 5; } ];\n\n  \
         system.stateVersion",
    )
}

#[test]
fn raw_image_boots_with_grub_under_bios() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let disk = disk(
        &s,
        dir.path(),
        &with_modules_and_swap,
        "raw",
        Firmware::Bios,
    );
    let m = boot(&disk, "raw, BIOS, GRUB");
    assert!(m.console_text().contains("GNU GRUB"));
    check_example(&m);

    // The system's modules are strata's tree: compressed, indexed, filtered.
    let v = ok(&m, "uname -r");
    let dir = format!(
        "/run/current-system/kernel-modules/lib/modules/{}",
        v.trim()
    );
    ok(&m, &format!("test -f {dir}/kernel/drivers/net/dummy.ko.xz"));
    ok(&m, &format!("test -f {dir}/modules.dep.bin"));
    ok(&m, &format!("test ! -e {dir}/kernel/drivers/net/dummy.ko"));
    ok(&m, &format!("test ! -e {dir}/kernel/sound"));
    // boot.kernelModules: decompressed by strata-init and loaded in stage 2.
    ok(&m, "test -d /sys/module/dummy");
    let console = m.console_text();
    assert!(
        console.contains("activation: loaded kernel module dummy"),
        "no report of the module's loading on the console"
    );
    // swapDevices: the file was made (whole, 0600) and is in use with its priority.
    let swaps = ok(&m, "cat /proc/swaps");
    let line = swaps
        .lines()
        .find(|l| l.starts_with("/var/swapfile "))
        .unwrap_or_else(|| panic!("/var/swapfile is not in use:\n{swaps}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[1], "file", "{line}");
    assert_eq!(fields.last(), Some(&"5"), "priority: {line}");
    let ls = ok(&m, "ls -l /var/swapfile");
    assert!(ls.starts_with("-rw------- "), "{ls}");
    assert!(ls.contains(" 16777216 "), "{ls}");
    power_off(m);
}
