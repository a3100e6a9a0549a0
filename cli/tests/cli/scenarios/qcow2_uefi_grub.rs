//! Scenario 3: a qcow2 image with GRUB boots under UEFI, configured as declared.

use strata_qemu_tests::Firmware;

use super::{boot, check_example, disk, power_off};
use crate::system::shared;

#[test]
fn qcow2_image_boots_with_grub_under_uefi() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let disk = disk(&s, dir.path(), &|t| t, "qcow2", Firmware::Uefi);
    let m = boot(&disk, "qcow2, UEFI, GRUB");
    assert!(m.console_text().contains("GNU GRUB"));
    check_example(&m);
    power_off(m);
}
