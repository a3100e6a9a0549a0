//! Scenario 5: inside the guest, the configuration is edited (a new host name, a new user, a
//! changed service) and `strata switch` makes it live without a reboot; after a reboot the new
//! generation is the default and the menu lists both; generation 1 picked in the menu brings
//! the old configuration back; `strata rollback` from there makes generation 1 the default.

use std::time::Duration;

use strata_qemu_tests::{base64, Firmware, Machine, Menu};

use super::{boot, disk, ok, BOOT};
use crate::system::shared;

/// strata inside the guest.
pub const STRATA: &str = "/run/current-system/strata/bin/strata";

/// Reboots through strata and waits for QEMU to stop (it runs with -no-reboot).
pub fn reboot(mut m: Machine) {
    let _ = m.run(&format!("{STRATA} reboot"), Duration::from_secs(10));
    assert!(
        m.wait_exit(Duration::from_secs(120)).is_some(),
        "the machine did not reboot:\n{}",
        m.last_lines(20)
    );
}

/// Edits `/etc/strata/configuration.nix` on the machine as [`changed`] does and runs
/// `strata switch`, which must make generation `expect` current.
pub fn edit_and_switch(m: &Machine, expect: u32) {
    let old = ok(m, "cat /etc/strata/configuration.nix");
    let new = changed(&old);
    assert_ne!(old, new);
    ok(
        m,
        &format!(
            "echo {} | base64 -d > /etc/strata/configuration.nix",
            base64(new.as_bytes())
        ),
    );
    let r = m
        .run(&format!("{STRATA} switch 2>&1"), Duration::from_secs(900))
        .unwrap();
    assert_eq!(r.code, 0, "strata switch failed:\n{}", r.output);
    assert!(
        r.output
            .contains(&format!("generation {expect} is current")),
        "{}",
        r.output
    );
}

/// The example changed as scenario 5 changes it.
pub fn changed(text: &str) -> String {
    text.replace("\"saguaro\"", "\"mesquite\"")
        .replace(
            "  users.users.alice = {",
            "  users.users.bob = { isNormalUser = true; };\n  users.users.alice = {",
        )
        .replace("echo \"hello from", "echo \"hello again from")
}

#[test]
fn switch_reboot_pick_the_old_generation_and_roll_back() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let disk = disk(&s, dir.path(), &|t| t, "raw", Firmware::Bios);
    let m = boot(&disk, "switch: first boot");
    assert_eq!(ok(&m, "cat /proc/sys/kernel/hostname").trim(), "saguaro");

    // Edit the configuration on the machine and switch.
    edit_and_switch(&m, 2);
    // Live without a reboot.
    assert_eq!(ok(&m, "cat /proc/sys/kernel/hostname").trim(), "mesquite");
    assert!(ok(&m, "id bob").contains("uid=1001(bob)"));
    let log = ok(&m, "cat /var/log/strata/hello.log");
    assert!(log.contains("hello again from mesquite"), "{log}");
    let menu = ok(&m, "cat /boot/grub/grub.cfg");
    assert!(
        menu.contains("Generation 1") && menu.contains("Generation 2"),
        "{menu}"
    );
    reboot(m);

    // The new generation is the default.
    let m = boot(&disk, "switch: second boot");
    assert!(
        m.console_text().contains("Booting `strata (Generation 2"),
        "{}",
        m.last_lines(30)
    );
    assert_eq!(ok(&m, "cat /proc/sys/kernel/hostname").trim(), "mesquite");
    reboot(m);

    // Generation 1 from the menu: the submenu, then its second entry.
    let mut m = Machine::boot_disk(&disk).unwrap();
    m.pick_menu_entry(
        Menu::Grub,
        "strata: every generation",
        1,
        "strata: every generation",
        BOOT,
    )
    .unwrap();
    m.pick_menu_entry(
        Menu::Grub,
        "strata (Generation 1",
        1,
        "strata (Generation 1",
        Duration::from_secs(60),
    )
    .unwrap();
    m.wait_for_console_text(" is up (", BOOT).unwrap();
    // Generation 1's host name: the entry picked is the one that booted (the default is 2).
    assert_eq!(ok(&m, "cat /proc/sys/kernel/hostname").trim(), "saguaro");
    let shadow = ok(&m, "grep ^bob: /etc/shadow");
    assert!(shadow.starts_with("bob:!"), "bob is locked: {shadow}");

    // Roll back from there: generation 1 becomes the default.
    let r = m
        .run(&format!("{STRATA} rollback 2>&1"), Duration::from_secs(300))
        .unwrap();
    assert_eq!(r.code, 0, "strata rollback failed:\n{}", r.output);
    let gens = ok(&m, &format!("{STRATA} generations list"));
    assert!(
        gens.lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("(current)")),
        "{gens}"
    );
    let menu = ok(&m, "cat /boot/grub/grub.cfg");
    let default = menu
        .lines()
        .find(|l| l.starts_with("menuentry"))
        .unwrap_or_default();
    assert!(default.contains("Generation 1"), "{menu}");
    super::power_off(m);
}
