//! Scenario 7: a switch with `--confirm-within` that nobody confirms reverts itself.

use std::time::Duration;

use strata_qemu_tests::{base64, Firmware};

use super::switch_and_rollback::{changed, STRATA};
use super::{boot, disk, ok};
use crate::system::shared;

#[test]
fn an_unconfirmed_switch_reverts_itself() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let disk = disk(&s, dir.path(), &|t| t, "raw", Firmware::Bios);
    let m = boot(&disk, "confirm-within");
    let old = ok(&m, "cat /etc/strata/configuration.nix");
    ok(
        &m,
        &format!(
            "echo {} | base64 -d > /etc/strata/configuration.nix",
            base64(changed(&old).as_bytes())
        ),
    );
    let r = m
        .run(
            &format!("{STRATA} switch --confirm-within 30s 2>&1"),
            Duration::from_secs(900),
        )
        .unwrap();
    assert_eq!(r.code, 0, "{}", r.output);
    assert!(r.output.contains("strata confirm"), "{}", r.output);
    assert_eq!(ok(&m, "cat /proc/sys/kernel/hostname").trim(), "mesquite");
    // Not confirmed: back to saguaro, the profile never moved.
    let mut reverted = false;
    for _ in 0..60 {
        std::thread::sleep(Duration::from_secs(2));
        if ok(&m, "cat /proc/sys/kernel/hostname").trim() == "saguaro" {
            reverted = true;
            break;
        }
    }
    assert!(
        reverted,
        "still mesquite; log: {}",
        ok(&m, "cat /var/log/strata/confirm.log")
    );
    let gens = ok(&m, &format!("{STRATA} generations list"));
    assert_eq!(gens.lines().count(), 1, "{gens}");
    super::power_off(m);
}
