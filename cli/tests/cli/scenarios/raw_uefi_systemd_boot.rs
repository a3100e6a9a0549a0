//! Scenario 1: a raw image with systemd-boot boots under UEFI, configured as declared.

use strata_qemu_tests::{DiskBoot, Firmware};

use super::{boot, check_example, config, image, power_off, systemd_boot};
use crate::system::shared;

#[test]
fn raw_image_boots_with_systemd_boot_under_uefi() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let conf = config(&dir.path().join("conf"), &systemd_boot);
    let img = image(&s, &conf, "raw", dir.path());
    let disk = DiskBoot::new(&img, "raw", Firmware::Uefi, &dir.path().join("vm")).unwrap();
    let m = boot(&disk, "raw, UEFI, systemd-boot");
    assert!(m.console_text().contains("strata: stage 2"));
    check_example(&m);
    power_off(m);
}
