//! How long a machine with OpenSSH takes to be reachable: the example configuration with
//! `services.openssh.enable` and a key for alice, as a raw image, booted in QEMU (TCG) under
//! BIOS (GRUB) and UEFI (systemd-boot) on a user-mode network (`restrict=on`, the SSH port
//! forwarded from 127.0.0.1), and the closure the network, the firewall and SSH add.
//!
//! ```text
//! cargo bench -p strata-cli --bench network
//! ```
//!
//! Printed per firmware, best of `STRATA_BENCH_REPS` boots (1 by default: each boot makes the
//! host keys anew, RSA 4096 under emulation): QEMU's start to the ready marker, and to the
//! host's `ssh` (run with `-F /dev/null`) logging in with alice's key. Then the store size
//! (`du`, hard links counted once, strata itself left out) of the example's closure with
//! neither DHCP nor the firewall, with both (the defaults), and with SSH too. The time a
//! switch takes to change the firewall is printed by the network scenario's test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_qemu_tests::{free_port, DiskBoot, Firmware, Machine, Nic};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

fn strata(root: &Path, args: &[&str]) -> String {
    let out = Command::new(STRATA)
        .arg("--store-root")
        .arg(root)
        .args(args)
        .env_remove("STRATA_DEBIAN_MIRROR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "strata {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The example with `extra` before `system.stateVersion`, written to `dir` with the lock.
fn configuration(dir: &Path, name: &str, extra: &str, systemd_boot: bool) -> String {
    let mut text = fs::read_to_string(common::repo().join("examples/configuration.nix"))
        .unwrap()
        .replace(
            "  system.stateVersion",
            &format!("{extra}  system.stateVersion"),
        );
    if systemd_boot {
        text = text
            .replace(
                "boot.loader.grub.enable = true;",
                "boot.loader.systemd-boot.enable = true;",
            )
            .replace("  boot.loader.grub.device = \"/dev/vda\";\n", "");
    }
    fs::copy(
        common::repo().join("examples/strata.lock"),
        dir.join("strata.lock"),
    )
    .unwrap();
    let path = dir.join(format!("{name}.nix"));
    fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `du -sb` of a toplevel's closure without strata itself.
fn closure_bytes(root: &Path, toplevel: &str) -> u64 {
    let paths: Vec<String> = strata(root, &["store", "closure", toplevel])
        .lines()
        .filter(|p| !p.contains("-strata-0."))
        .map(|p| format!("{}{p}", root.display()))
        .collect();
    let out = Command::new("du")
        .arg("-scb")
        .args(&paths)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// A label as a file name: QEMU's option syntax takes no comma (or space) in a path.
fn slug(label: &str) -> String {
    label.replace([',', ' '], "")
}

fn ssh_login(port: u16, key: &Path) -> bool {
    Command::new("ssh")
        .args(["-F", "/dev/null", "-p", &port.to_string(), "-i"])
        .arg(key)
        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"])
        .arg("alice@127.0.0.1")
        .arg("true")
        .stdin(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn main() {
    let data = common::target_dir().join("bench-data/network");
    fs::create_dir_all(&data).unwrap();
    let root = data.join("store");
    let dir = tempfile::tempdir_in(&data).unwrap();
    let key = dir.path().join("id");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let public = fs::read_to_string(key.with_extension("pub")).unwrap();
    let ssh = format!(
        "  services.openssh.enable = true;\n  users.users.alice.openssh.authorizedKeys.keys = [ \"{}\" ];\n",
        public.trim()
    );
    let reps = std::env::var("STRATA_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1usize);

    println!("boot to sshd, TCG, best of {reps}:");
    for (firmware, label, systemd_boot) in [
        (Firmware::Bios, "BIOS, GRUB", false),
        (Firmware::Uefi, "UEFI, systemd-boot", true),
    ] {
        let conf = configuration(dir.path(), "ssh", &ssh, systemd_boot);
        let img = dir.path().join(format!("{}.raw", slug(label)));
        strata(
            &root,
            &[
                "image",
                "--format",
                "raw",
                "-f",
                &conf,
                "-o",
                img.to_str().unwrap(),
            ],
        );
        let mut best: Option<(f64, f64)> = None;
        for rep in 0..reps {
            let port = free_port().unwrap();
            let mut disk = DiskBoot::new(
                &img,
                "raw",
                firmware,
                &dir.path().join(format!("vm-{}-{rep}", slug(label))),
            )
            .unwrap();
            disk.nics = vec![Nic::User {
                forwards: vec![(port, 22)],
            }];
            let t = Instant::now();
            let m = Machine::boot_disk(&disk).unwrap();
            m.wait_for_console_regex(
                r"strata: \S+ is up \(\d+ services? started\)",
                Duration::from_secs(600),
            )
            .unwrap();
            let ready = t.elapsed().as_secs_f64();
            while !ssh_login(port, &key) {
                assert!(
                    t.elapsed() < Duration::from_secs(900),
                    "sshd never answered"
                );
                std::thread::sleep(Duration::from_millis(500));
            }
            let sshd = t.elapsed().as_secs_f64();
            println!("  {label}: ready marker {ready:.1} s, ssh login {sshd:.1} s");
            if best.is_none_or(|(_, s)| sshd < s) {
                best = Some((ready, sshd));
            }
            let mut m = m;
            m.power_cut();
        }
        let (ready, sshd) = best.unwrap();
        println!("  {label} best: ready marker {ready:.1} s, ssh login {sshd:.1} s");
    }

    println!("closure (du, hard links once, strata itself left out):");
    let mut last = None;
    for (name, extra) in [
        (
            "neither DHCP nor the firewall",
            "  networking.useDHCP = false;\n  networking.firewall.enable = false;\n".to_owned(),
        ),
        ("DHCP and the firewall (the defaults)", String::new()),
        ("and OpenSSH", ssh.clone()),
    ] {
        let conf = configuration(dir.path(), "closure", &extra, false);
        let top = strata(&root, &["build", "-f", &conf, "--no-out-link"]);
        let bytes = closure_bytes(&root, top.trim());
        let more = last.map_or(String::new(), |l: u64| {
            format!(" (+{:.1} MiB)", (bytes as f64 - l as f64) / 1048576.0)
        });
        println!("  {name}: {:.1} MiB{more}", bytes as f64 / 1048576.0);
        last = Some(bytes);
    }
}
