//! Scenario 6: QEMU is killed in the middle of `strata switch`; the next boot reaches a
//! consistent generation, old or new, and `strata store verify` finds nothing wrong.

use std::time::Duration;

use strata_qemu_tests::{base64, Firmware, Machine};

use super::switch_and_rollback::{changed, STRATA};
use super::{boot, disk, ok};
use crate::system::shared;

#[test]
fn a_power_cut_during_a_switch_leaves_one_whole_generation() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let disk = disk(&s, dir.path(), &|t| t, "raw", Firmware::Bios);
    let mut m = boot(&disk, "power cut: first boot");
    let old = ok(&m, "cat /etc/strata/configuration.nix");
    ok(
        &m,
        &format!(
            "echo {} | base64 -d > /etc/strata/configuration.nix && sync",
            base64(changed(&old).as_bytes())
        ),
    );
    // Start the switch, and cut the power once activation has begun.
    let from = m.console_text().len();
    let _ = m.run(
        &format!("({STRATA} switch > /dev/console 2>&1 &)"),
        Duration::from_secs(10),
    );
    m.wait_for_console_text_from(
        "-strata-system-mesquite.drv\n",
        from,
        Duration::from_secs(900),
    )
    .unwrap();
    m.power_cut();
    drop(m);

    let m: Machine = boot(&disk, "power cut: after the cut");
    let host = ok(&m, "cat /proc/sys/kernel/hostname");
    let host = host.trim();
    assert!(host == "saguaro" || host == "mesquite", "{host}");
    // passwd, group and shadow agree, and /etc is one generation's.
    let passwd = ok(&m, "cat /etc/passwd");
    let shadow = ok(&m, "cat /etc/shadow");
    for line in passwd.lines() {
        let user = line.split(':').next().unwrap();
        assert!(
            shadow.lines().any(|l| l.starts_with(&format!("{user}:"))),
            "{user} has no shadow line"
        );
    }
    let motd = ok(&m, "cat /etc/motd");
    assert!(motd.contains(&format!("Welcome to {host}")), "{motd}");
    let verify = m
        .run(
            &format!("{STRATA} store verify 2>&1"),
            // Hashing the whole store under emulation: minutes on a loaded machine.
            Duration::from_secs(1500),
        )
        .unwrap();
    assert_eq!(verify.code, 0, "strata store verify: {}", verify.output);
    super::power_off(m);
}
