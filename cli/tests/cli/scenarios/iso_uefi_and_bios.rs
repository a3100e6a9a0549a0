//! Scenario 4: the hybrid ISO boots the live system from a CD and from a USB stick, under
//! UEFI (OVMF) and BIOS (SeaBIOS); the live system is configured as declared and writable.

use strata_qemu_tests::{DiskBoot, Firmware, Machine, Medium};

use super::{boot, check_configured, config, image, ok, power_off};
use crate::system::shared;

/// The live system's own checks: the medium read-only, the root an overlay taking writes,
/// the store as read-only as on a disk.
fn check_live(m: &Machine, device: &str) {
    let mounts = ok(m, "cat /proc/mounts");
    let medium = mounts
        .lines()
        .find(|l| l.contains(" /run/strata-live/medium "))
        .unwrap_or_else(|| panic!("the medium is not mounted: {mounts}"));
    assert!(
        medium.starts_with(device) && medium.contains(" iso9660 ro,"),
        "{medium}"
    );
    assert!(
        mounts
            .lines()
            .any(|l| l.starts_with("overlay / overlay rw,")),
        "{mounts}"
    );
    assert!(
        mounts
            .lines()
            .any(|l| l.contains(" /run/strata-live/image squashfs ro,")),
        "{mounts}"
    );
    // Writable everywhere outside the store, in memory.
    let out = ok(
        m,
        "echo written > /etc/live-note && echo more >> /root/note && mkdir -p /var/lib/live \
         && cat /etc/live-note /root/note && ls -d /var/lib/live",
    );
    assert_eq!(out, "written\nmore\n/var/lib/live\n");
    let r = m
        .run("touch /nix/store/live-note", super::CMD)
        .expect("the command channel");
    assert_ne!(r.code, 0, "the store took a write: {}", r.output);
    // The user's password works as declared: alice can be looked up with a hash.
    let shadow = ok(m, "grep '^alice:' /etc/shadow");
    assert!(shadow.starts_with("alice:$"), "{shadow}");
}

#[test]
fn iso_boots_live_from_cd_and_usb_under_uefi_and_bios() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let conf = config(&dir.path().join("conf"), &|t| t);
    let img = image(&s, &conf, "iso", dir.path());
    for (n, (firmware, medium, device)) in [
        (Firmware::Uefi, Medium::Cdrom, "/dev/sr0"),
        (Firmware::Bios, Medium::Cdrom, "/dev/sr0"),
        (Firmware::Uefi, Medium::UsbStick, "/dev/sd"),
        (Firmware::Bios, Medium::UsbStick, "/dev/sd"),
    ]
    .into_iter()
    .enumerate()
    {
        let what = format!("ISO, {firmware:?}, {medium:?}");
        let mut disk =
            DiskBoot::new(&img, "raw", firmware, &dir.path().join(format!("vm-{n}"))).unwrap();
        disk.medium = medium;
        let m = boot(&disk, &what);
        assert!(m.console_text().contains("GNU GRUB"), "{what}");
        assert!(
            m.console_text().contains("strata: live system from "),
            "{what}"
        );
        check_configured(&m);
        check_live(&m, device);
        if n == 0 {
            // strata works on the live system: its profile and its store database (the
            // toplevel's contents match their registered hash; the whole store takes minutes
            // to hash under emulation).
            let strata = "/run/current-system/strata/bin/strata";
            let gens = ok(&m, &format!("{strata} generations list"));
            assert!(
                gens.contains("current") && gens.contains("booted"),
                "{gens}"
            );
            ok(
                &m,
                &format!("{strata} store verify $(readlink -f /run/current-system)"),
            );
        }
        power_off(m);
    }
}
