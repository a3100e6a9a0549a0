//! End-to-end scenarios: images of the example configuration (with the test command channel)
//! built by `strata image`, booted in QEMU from a copy-on-write overlay, UEFI or BIOS, and
//! checked through the command channel. One scenario per file. They hold the shared store's
//! lock, so they run one at a time (and apart from the other system tests).

mod confirm_within;
mod debian_userspace;
mod flake_vm;
mod fleet;
mod iso_uefi_and_bios;
mod network_ssh;
mod power_cut;
mod qcow2_uefi_grub;
mod raw_bios_grub;
mod raw_uefi_systemd_boot;
mod static_link;
mod switch_and_rollback;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strata_qemu_tests::{have_qemu, DiskBoot, Firmware, Machine};

use crate::run;
use crate::system::{example, repo, Shared};

/// From QEMU's start to the ready marker, at most.
pub const BOOT: Duration = Duration::from_secs(300);
/// One command through the channel, at most.
pub const CMD: Duration = Duration::from_secs(120);

/// The example with the command channel, edited by `edit`, in `dir` with the lock beside it;
/// returns the configuration's path.
pub fn config(dir: &Path, edit: &dyn Fn(String) -> String) -> PathBuf {
    assert!(
        have_qemu(),
        "these tests boot QEMU: install qemu-system-x86 (./scripts/test does)"
    );
    fs::create_dir_all(dir).unwrap();
    let text = fs::read_to_string(example()).unwrap().replace(
        "  system.stateVersion",
        "  testing.commandChannel.enable = true;\n\n  system.stateVersion",
    );
    fs::copy(repo().join("examples/strata.lock"), dir.join("strata.lock")).unwrap();
    let path = dir.join("configuration.nix");
    fs::write(&path, edit(text)).unwrap();
    path
}

/// The same configuration with systemd-boot instead of GRUB.
pub fn systemd_boot(text: String) -> String {
    text.replace(
        "boot.loader.grub.enable = true;",
        "boot.loader.systemd-boot.enable = true;",
    )
    .replace("  boot.loader.grub.device = \"/dev/vda\";\n", "")
}

/// `strata image` of `configuration` in `format` into `dir`.
pub fn image(s: &Shared, configuration: &Path, format: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("disk.{format}"));
    let mut c = crate::strata();
    c.arg("--store-root")
        .arg(s.root())
        .args(["image", "--format", format, "-f"])
        .arg(configuration)
        .arg("-o")
        .arg(&out)
        .env_remove("STRATA_DEBIAN_MIRROR");
    run(&mut c, None).ok();
    out
}

/// A machine for an image of the example (command channel on, edited by `edit`) in `format`
/// under `firmware`: configuration, image and the machine's overlay in `dir`. The caller holds
/// `s`'s lock for the whole scenario, so scenarios run one at a time.
pub fn disk(
    s: &Shared,
    dir: &Path,
    edit: &dyn Fn(String) -> String,
    format: &str,
    firmware: Firmware,
) -> DiskBoot {
    let conf = config(&dir.join("conf"), edit);
    let img = image(s, &conf, format, dir);
    let backing = if format == "qcow2" { "qcow2" } else { "raw" };
    DiskBoot::new(&img, backing, firmware, &dir.join("vm")).unwrap()
}

/// Boots and waits for the ready marker; prints the time it took.
pub fn boot(disk: &DiskBoot, what: &str) -> Machine {
    let m = Machine::boot_disk(disk).unwrap();
    ready(&m, what);
    m
}

/// Waits for the ready marker of a machine that is booting; prints the time since QEMU
/// started.
pub fn ready(m: &Machine, what: &str) {
    let (t, _) = m
        .wait_for_console_regex(r"strata: \S+ is up \(\d+ services? started\)", BOOT)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    eprintln!(
        "{what}: QEMU start to ready marker: {:.1} s",
        t.as_secs_f64()
    );
}

/// Runs `cmd` in the guest; panics unless it exits 0. Returns its output.
pub fn ok(m: &Machine, cmd: &str) -> String {
    let r = m.run(cmd, CMD).unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert_eq!(r.code, 0, "`{cmd}` failed: {}", r.output);
    r.output
}

/// The checks of scenarios 1 to 3: [`check_configured`], and the ESP on /boot.
pub fn check_example(m: &Machine) {
    check_configured(m);
    // The ESP is mounted where switches write the menu.
    let mounts = ok(m, "cat /proc/mounts");
    assert!(mounts.contains(" /boot vfat "), "{mounts}");
}

/// The example's configuration is live: host name, time zone, alice in wheel, the service ran.
pub fn check_configured(m: &Machine) {
    assert_eq!(ok(m, "cat /proc/sys/kernel/hostname").trim(), "saguaro");
    assert_eq!(ok(m, "date +%Z").trim(), "MST");
    let id = ok(m, "id alice");
    assert!(
        id.contains("uid=1000(alice)") && id.contains("(wheel)"),
        "{id}"
    );
    let log = ok(m, "cat /var/log/strata/hello.log");
    assert!(log.contains("hello from saguaro"), "{log}");
    // A login shell finds the system's programs and strata itself (/etc/profile).
    let found = ok(m, "sh -lc 'command -v strata; echo \"$PATH\"'");
    assert_eq!(
        found,
        "/run/current-system/strata/bin/strata\n/run/wrappers/bin:/usr/local/sbin:\
         /usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/run/current-system/strata/bin\n"
    );
}

/// Stops the machine through strata and waits for QEMU to exit.
pub fn power_off(mut m: Machine) {
    let t = Instant::now();
    // No answer comes back: the channel stops with the machine.
    let _ = m.run(
        "/run/current-system/strata/bin/strata poweroff",
        Duration::from_secs(10),
    );
    assert!(
        m.wait_exit(Duration::from_secs(120)).is_some(),
        "the machine did not power off:\n{}",
        m.last_lines(20)
    );
    eprintln!("powered off in {:.1} s", t.elapsed().as_secs_f64());
}
