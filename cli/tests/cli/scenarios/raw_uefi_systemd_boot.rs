//! Scenario 1: a raw image with systemd-boot boots under UEFI, configured as declared. Its
//! menu is driven: down to the firmware entry and back, the highlight checked each time; after
//! a `strata switch` in the guest and a reboot, generation 1 picked below the new default
//! boots the old configuration.

use strata_qemu_tests::{Firmware, Machine, Menu};

use super::switch_and_rollback::{edit_and_switch, reboot};
use super::{check_example, disk, ok, power_off, ready, systemd_boot, BOOT};
use crate::system::shared;

#[test]
fn raw_image_boots_with_systemd_boot_under_uefi() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let disk = disk(&s, dir.path(), &systemd_boot, "raw", Firmware::Uefi);
    let mut m = Machine::boot_disk(&disk).unwrap();
    m.wait_for_console_text("strata (Generation 1", BOOT)
        .unwrap();
    m.move_highlight(Menu::SystemdBoot, 1, "Reboot Into Firmware Interface")
        .unwrap();
    m.move_highlight(Menu::SystemdBoot, -1, "strata (Generation 1")
        .unwrap();
    m.send("\r").unwrap();
    ready(&m, "raw, UEFI, systemd-boot");
    assert!(m.console_text().contains("strata: stage 2"));
    check_example(&m);

    // A second generation; systemd-boot's entries for both on the ESP.
    edit_and_switch(&m, 2);
    let entries = ok(&m, "ls /boot/loader/entries");
    assert_eq!(
        entries,
        "strata-generation-1.conf\nstrata-generation-2.conf\n"
    );
    reboot(m);

    // Generation 2 is the default and first; generation 1, below it, brings saguaro back.
    let mut m = Machine::boot_disk(&disk).unwrap();
    m.pick_menu_entry(
        Menu::SystemdBoot,
        "strata (Generation 2",
        1,
        "strata (Generation 1",
        BOOT,
    )
    .unwrap();
    ready(&m, "systemd-boot, generation 1 picked");
    assert_eq!(ok(&m, "cat /proc/sys/kernel/hostname").trim(), "saguaro");
    let current = ok(&m, "readlink /run/booted-system");
    assert!(current.contains("-strata-system-saguaro"), "{current}");
    power_off(m);
}
