//! Scenario 2: a raw image with GRUB boots under BIOS (SeaBIOS), configured as declared.

use strata_qemu_tests::{DiskBoot, Firmware};

use super::{boot, check_example, config, image, power_off};
use crate::system::shared;

#[test]
fn raw_image_boots_with_grub_under_bios() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let conf = config(&dir.path().join("conf"), &|t| t);
    let img = image(&s, &conf, "raw", dir.path());
    let disk = DiskBoot::new(&img, "raw", Firmware::Bios, &dir.path().join("vm")).unwrap();
    let m = boot(&disk, "raw, BIOS, GRUB");
    assert!(m.console_text().contains("GNU GRUB"));
    check_example(&m);
    power_off(m);
}
