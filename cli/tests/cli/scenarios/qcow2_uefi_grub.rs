//! Scenario 3: a qcow2 image with GRUB boots under UEFI, configured as declared.

use strata_qemu_tests::{DiskBoot, Firmware};

use super::{boot, check_example, config, image, power_off};
use crate::system::shared;

#[test]
fn qcow2_image_boots_with_grub_under_uefi() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let conf = config(&dir.path().join("conf"), &|t| t);
    let img = image(&s, &conf, "qcow2", dir.path());
    let disk = DiskBoot::new(&img, "qcow2", Firmware::Uefi, &dir.path().join("vm")).unwrap();
    let m = boot(&disk, "qcow2, UEFI, GRUB");
    assert!(m.console_text().contains("GNU GRUB"));
    check_example(&m);
    power_off(m);
}
