//! Scenario 2: a raw image with GRUB boots under BIOS (SeaBIOS), configured as declared.

use strata_qemu_tests::Firmware;

use super::{boot, check_example, disk, power_off};
use crate::system::shared;

#[test]
fn raw_image_boots_with_grub_under_bios() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let disk = disk(&s, dir.path(), &|t| t, "raw", Firmware::Bios);
    let m = boot(&disk, "raw, BIOS, GRUB");
    assert!(m.console_text().contains("GNU GRUB"));
    check_example(&m);
    power_off(m);
}
