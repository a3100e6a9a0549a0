//! A two-machine deploy against two single `--target-host` switches, side by side in one run.
//! Two guests boot from one raw image (the example with OpenSSH and root's key; UEFI,
//! systemd-boot; QEMU under TCG on a user-mode network with `restrict=on`, each SSH port
//! forwarded from 127.0.0.1). Each round changes both machines the same way (a user and an
//! `/etc` file, so a real switch with a real copy); every toplevel is built before the clock
//! starts, so both sides time evaluation, copy, activation and the confirmation over a new
//! connection (both use a 120 s window), not the builds.
//!
//! ```text
//! cargo bench -p strata-cli --bench deploy
//! ```
//!
//! Printed per round (`STRATA_BENCH_REPS` rounds, 1 by default): the two `strata switch
//! --target-host` one after the other (each, and their sum), and `strata deploy` of a fleet
//! naming both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_qemu_tests::{free_port, DiskBoot, Firmware, Machine, Nic};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

/// `strata --store-root ROOT ARGS...` with `opts` as the ssh options; panics unless it exits 0.
fn strata(root: &Path, opts: &str, args: &[&str]) -> String {
    let out = Command::new(STRATA)
        .arg("--store-root")
        .arg(root)
        .args(args)
        .env("STRATA_SSHOPTS", opts)
        .env_remove("NIX_SSHOPTS")
        .env_remove("STRATA_SSH")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("STRATA_DEBIAN_MIRROR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "strata {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn timed(root: &Path, opts: &str, args: &[&str]) -> f64 {
    let t = Instant::now();
    strata(root, opts, args);
    t.elapsed().as_secs_f64()
}

/// The change of round `n` for machine `name`.
fn change(name: &str, n: usize) -> String {
    format!(
        "networking.hostName = \"{name}\";\n  users.users.round{n}.isNormalUser = true;\n  \
         environment.etc.\"round\".text = \"{n}\";\n"
    )
}

/// Writes round `n`'s configuration of `name` (`base` with [`change`]) into `d`, builds it,
/// and returns its path.
fn built(root: &Path, opts: &str, d: &Path, base: &str, name: &str, n: usize) -> String {
    let f = d.join(format!("{name}-{n}.nix"));
    let text = base.replace(
        "  system.stateVersion",
        &format!("  {}  system.stateVersion", change(name, n)),
    );
    fs::write(&f, text).unwrap();
    let f = f.display().to_string();
    strata(root, opts, &["build", "--no-out-link", "-f", &f]);
    f
}

fn main() {
    let data = common::target_dir().join("bench-data/deploy");
    fs::create_dir_all(&data).unwrap();
    let root = data.join("store");
    let dir = tempfile::tempdir_in(&data).unwrap();
    let d = dir.path();
    let key = d.join("id");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let public = fs::read_to_string(key.with_extension("pub")).unwrap();
    let opts = format!(
        "-F /dev/null -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null \
         -o StrictHostKeyChecking=accept-new -o BatchMode=yes -o IdentitiesOnly=yes -i {} \
         -o LogLevel=ERROR",
        d.join("known").display(),
        key.display()
    );
    let base = fs::read_to_string(common::repo().join("examples/configuration.nix"))
        .unwrap()
        .replace("  networking.hostName = \"saguaro\";\n", "")
        .replace(
            "boot.loader.grub.enable = true;",
            "boot.loader.systemd-boot.enable = true;",
        )
        .replace("  boot.loader.grub.device = \"/dev/vda\";\n", "")
        .replace(
            "  system.stateVersion",
            &format!(
                "  services.openssh.enable = true;\n  \
                 users.users.root.openssh.authorizedKeys.keys = [ \"{}\" ];\n  \
                 system.stateVersion",
                public.trim()
            ),
        );
    fs::copy(
        common::repo().join("examples/strata.lock"),
        d.join("strata.lock"),
    )
    .unwrap();
    fs::write(d.join("configuration.nix"), &base).unwrap();
    let conf = d.join("configuration.nix").display().to_string();
    let img = d.join("disk.raw");
    strata(
        &root,
        &opts,
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

    let ports = [free_port().unwrap(), free_port().unwrap()];
    let mut machines = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut disk =
            DiskBoot::new(&img, "raw", Firmware::Uefi, &d.join(format!("vm{i}"))).unwrap();
        disk.nics = vec![Nic::User {
            forwards: vec![(*port, 22)],
        }];
        let m = Machine::boot_disk(&disk).unwrap();
        machines.push((m, disk));
    }
    for (m, _) in &machines {
        m.wait_for_console_regex(
            r"strata: \S+ is up \(\d+ services? started\)",
            Duration::from_secs(600),
        )
        .unwrap();
    }
    // sshd answers (the host keys are made at its first start).
    for port in ports {
        let t = Instant::now();
        while strata_ok_ssh(&opts, port).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(600),
                "sshd on {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    let reps = std::env::var("STRATA_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1usize);
    let names = ["alpha", "beta"];
    println!("two machines (TCG guests), a real change on each, builds done beforehand:");
    for rep in 0..reps {
        // One after the other, each with --target-host.
        let n = 2 * rep + 1;
        let mut each = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let f = built(&root, &opts, d, &base, name, n);
            let target = format!("root@127.0.0.1:{}", ports[i]);
            each.push(timed(
                &root,
                &opts,
                &[
                    "switch",
                    "--target-host",
                    &target,
                    "--confirm-within",
                    "120s",
                    "-f",
                    &f,
                ],
            ));
        }
        // Both at once, with a fleet file.
        let n = n + 1;
        let fleet = format!(
            "{{\n  defaults = {{ imports = [ ./configuration.nix ]; }};\n  \
             machines.alpha = {{ deployment = {{ targetHost = \"127.0.0.1\"; targetPort = {}; }};\n    {} }};\n  \
             machines.beta = {{ deployment = {{ targetHost = \"127.0.0.1\"; targetPort = {}; }};\n    {} }};\n}}\n",
            ports[0],
            change("alpha", n),
            ports[1],
            change("beta", n)
        );
        let fleet_file = d.join("fleet.nix");
        fs::write(&fleet_file, fleet).unwrap();
        let ff = fleet_file.display().to_string();
        // Built beforehand, as the switches' were (a fleet's machine builds to the toplevel of
        // the same configuration on its own: the deployment options reach no generation).
        for name in names {
            built(&root, &opts, d, &base, name, n);
        }
        let deploy = timed(
            &root,
            &opts,
            &["deploy", "-f", &ff, "--confirm-within", "120s"],
        );
        let sum: f64 = each.iter().sum();
        println!(
            "  round {}: two `strata switch --target-host`: {:.1} s + {:.1} s = {sum:.1} s; \
             `strata deploy` of both: {deploy:.1} s ({:.2}x the sum)",
            rep + 1,
            each[0],
            each[1],
            deploy / sum
        );
    }
    for (mut m, _) in machines {
        m.power_cut();
    }
}

/// Whether root gets in on `port`.
fn strata_ok_ssh(opts: &str, port: u16) -> Result<(), ()> {
    let ok = Command::new("ssh")
        .args(opts.split(' '))
        .args(["-o", "ConnectTimeout=10", "-p", &port.to_string()])
        .arg("root@127.0.0.1")
        .arg("true")
        .stdin(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(())
    }
}
