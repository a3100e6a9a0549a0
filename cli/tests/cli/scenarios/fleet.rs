//! Scenario 11: machines changed from here. Two guests boot from one image (the example with
//! OpenSSH and root's key for the test; each guest a copy-on-write overlay of it) on QEMU's
//! user-mode network (`restrict=on`), each with its SSH port forwarded from 127.0.0.1. The
//! host's OpenSSH client, configured by `$STRATA_SSHOPTS` alone, carries every exchange:
//!
//! - `strata copy --to` the first guest sends exactly the paths it lacks (the closure of the new
//!   generation less the image's); `strata switch --target-host` activates it there; a third
//!   generation, copied, is activated by hand on the guest with its
//!   `bin/switch-to-configuration test`, which leaves the profile alone;
//! - `strata deploy` of a fleet file naming both guests gives each its host name, a user and a
//!   service, all seen over SSH;
//! - a deploy whose configuration firewalls SSH off on the second guest: nobody can confirm it,
//!   it goes back by itself within the window and answers SSH again on its old generation; the
//!   first guest switched; the table says so and the exit status is 1;
//! - with the second guest powered off, a deploy reaches the first and reports the other as
//!   unreachable, exit status 1; an unknown `--on` name is refused before anything is built.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_qemu_tests::{free_port, DiskBoot, Firmware, Machine, Nic};

use super::switch_and_rollback::STRATA;
use super::{config, image, ok, ready};
use crate::deploy::row;
use crate::system::{shared, Shared};
use crate::{run, Output};

/// The host's ssh, with one key and its own known-hosts file.
struct Keys {
    key: PathBuf,
    known: PathBuf,
}

impl Keys {
    fn new(dir: &Path) -> Keys {
        let key = dir.join("id_ed25519");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "strata-fleet", "-f"])
            .arg(&key)
            .output()
            .expect("ssh-keygen (openssh-client) runs");
        assert!(out.status.success(), "{out:?}");
        Keys {
            key,
            known: dir.join("known_hosts"),
        }
    }

    fn public(&self) -> String {
        fs::read_to_string(self.key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The options strata's ssh gets ($STRATA_SSHOPTS): nothing from this machine's settings.
    fn options(&self) -> String {
        format!(
            "-F /dev/null -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null \
             -o StrictHostKeyChecking=accept-new -o BatchMode=yes -o IdentitiesOnly=yes \
             -i {} -o LogLevel=ERROR",
            self.known.display(),
            self.key.display()
        )
    }

    /// `cmd` as root on the guest behind `port`: (exit status, stdout + stderr).
    fn run(&self, port: u16, cmd: &str) -> (i32, String) {
        let mut c = Command::new("ssh");
        for o in self.options().split(' ') {
            c.arg(o);
        }
        let out = c
            .args(["-o", "ConnectTimeout=20", "-p", &port.to_string()])
            .arg("root@127.0.0.1")
            .arg(cmd)
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null())
            .output()
            .expect("ssh runs");
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `cmd` on the guest behind `port`; panics unless it exits 0.
    fn ok(&self, port: u16, cmd: &str) -> String {
        let (code, out) = self.run(port, cmd);
        assert_eq!(code, 0, "ssh -p {port} {cmd}: {out}");
        out
    }

    /// Waits until sshd on `port` lets root in with the key.
    fn wait(&self, port: u16) {
        let t = Instant::now();
        loop {
            let (code, out) = self.run(port, "true");
            if code == 0 {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(300),
                "sshd on {port} did not let root in: {out}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// The example as the guests boot it: OpenSSH, root's key, no host name of its own (each
/// machine of the fleet gets its name).
fn guest(text: String, key: &str) -> String {
    text.replace("  networking.hostName = \"saguaro\";\n", "")
        .replace(
            "  system.stateVersion",
            &format!(
                "  services.openssh.enable = true;\n  \
                 users.users.root.openssh.authorizedKeys.keys = [ \"{key}\" ];\n\n  \
                 system.stateVersion"
            ),
        )
}

/// `strata --store-root SHARED ARGS...` with the test's ssh options.
fn strata(s: &Shared, keys: &Keys, args: &[&str]) -> Output {
    let mut c = crate::strata();
    c.arg("--store-root")
        .arg(s.root())
        .args(args)
        .env("STRATA_SSHOPTS", keys.options())
        .env_remove("NIX_SSHOPTS")
        .env_remove("STRATA_SSH")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("STRATA_MACHINE_ROOT")
        .env_remove("STRATA_DEBIAN_MIRROR");
    let t = Instant::now();
    let o = run(&mut c, None);
    eprintln!(
        "strata {}: {:.1} s",
        args.join(" "),
        t.elapsed().as_secs_f64()
    );
    o
}

/// The toplevel `configuration` builds to (already built: nothing is).
fn toplevel(s: &Shared, keys: &Keys, configuration: &Path) -> String {
    let conf = configuration.display().to_string();
    strata(s, keys, &["build", "--no-out-link", "-f", &conf])
        .ok()
        .line()
}

fn closure(s: &Shared, keys: &Keys, path: &str) -> std::collections::BTreeSet<String> {
    strata(s, keys, &["store", "closure", path])
        .ok()
        .lines()
        .into_iter()
        .collect()
}

/// The fleet: both guests, with `extra` in the defaults and `beta_extra` in beta's module.
fn fleet(dir: &Path, ports: (u16, u16), extra: &str, beta_extra: &str) -> PathBuf {
    let text = format!(
        "{{\n  \
           defaults = {{ lib, ... }}: {{\n    \
             imports = [ ./configuration.nix ];\n    \
             {extra}\n  \
           }};\n  \
           machines.alpha = {{ deployment = {{ targetHost = \"127.0.0.1\"; targetPort = {}; tags = [ \"web\" ]; }}; }};\n  \
           machines.beta = {{ lib, ... }}: {{\n    \
             deployment = {{ targetHost = \"127.0.0.1\"; targetPort = {}; }};\n    \
             {beta_extra}\n  \
           }};\n\
         }}\n",
        ports.0, ports.1
    );
    let f = dir.join("fleet.nix");
    fs::write(&f, text).unwrap();
    f
}

const ERIN: &str = "users.users.erin.isNormalUser = true;\n    \
    systemd.services.fleet-hello = {\n      \
      wantedBy = [ \"multi-user.target\" ];\n      \
      serviceConfig.Type = \"oneshot\";\n      \
      serviceConfig.RemainAfterExit = true;\n      \
      script = \"echo hello from $(cat /proc/sys/kernel/hostname) > /run/fleet-hello\";\n    \
    };";

#[test]
fn copy_target_host_and_a_fleet_that_reverts_a_locked_out_machine() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = Keys::new(d);
    let key = keys.public();
    let conf = config(&d.join("conf"), &|t| guest(t, &key));
    let img = image(&s, &conf, "raw", d);
    let ports = (free_port().unwrap(), free_port().unwrap());
    let mut disks = Vec::new();
    for (name, port) in [("a", ports.0), ("b", ports.1)] {
        let mut disk = DiskBoot::new(&img, "raw", Firmware::Uefi, &d.join(name)).unwrap();
        disk.nics = vec![Nic::User {
            forwards: vec![(port, 22)],
        }];
        disks.push(disk);
    }
    let a = Machine::boot_disk(&disks[0]).unwrap();
    let b = Machine::boot_disk(&disks[1]).unwrap();
    ready(&a, "fleet: guest a");
    ready(&b, "fleet: guest b");
    keys.wait(ports.0);
    keys.wait(ports.1);

    // A copy to a guest that holds the image's generation sends what it lacks, no more.
    let gen0 = keys
        .ok(ports.0, "readlink /run/current-system")
        .trim()
        .to_owned();
    let conf1 = conf.with_file_name("one.nix");
    fs::write(
        &conf1,
        fs::read_to_string(&conf).unwrap().replace(
            "  system.stateVersion",
            "  users.users.dave.isNormalUser = true;\n\n  system.stateVersion",
        ),
    )
    .unwrap();
    let conf1s = conf1.display().to_string();
    let gen1 = toplevel(&s, &keys, &conf1);
    let lacked: Vec<String> = closure(&s, &keys, &gen1)
        .difference(&closure(&s, &keys, &gen0))
        .cloned()
        .collect();
    assert!(!lacked.is_empty());
    let url = format!("ssh://root@127.0.0.1:{}", ports.0);
    let o = strata(&s, &keys, &["copy", "--to", &url, "--json", &gen1]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["sent"], lacked.len(), "{report}");
    assert_eq!(report["missing"], lacked.len(), "{report}");
    let mut sent: Vec<String> = report["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    sent.sort();
    assert_eq!(sent, lacked);

    // --target-host: built here (nothing to build), nothing left to copy, switched there.
    let target = format!("root@127.0.0.1:{}", ports.0);
    let o = strata(
        &s,
        &keys,
        &["switch", "--target-host", &target, "-f", &conf1s],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("copied 0 of the closure's"),
        "{}",
        o.stderr
    );
    assert!(keys.ok(ports.0, "id dave").contains("(dave)"));
    let gens = keys.ok(ports.0, &format!("{STRATA} generations list"));
    assert!(
        gens.contains("   2 ") && gens.contains("(current)"),
        "{gens}"
    );

    // A generation copied and activated by hand with its switch-to-configuration test.
    let conf2 = conf.with_file_name("two.nix");
    fs::write(
        &conf2,
        fs::read_to_string(&conf1).unwrap().replace(
            "  system.stateVersion",
            "  environment.etc.\"by-hand\".text = \"activated by hand\\n\";\n\n  system.stateVersion",
        ),
    )
    .unwrap();
    let gen2 = toplevel(&s, &keys, &conf2);
    let o = strata(&s, &keys, &["copy", "--to", &url, &gen2]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let r = a
        .run(
            &format!("{gen2}/bin/switch-to-configuration test 2>&1"),
            Duration::from_secs(600),
        )
        .unwrap();
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(ok(&a, "cat /etc/by-hand"), "activated by hand\n");
    assert_eq!(ok(&a, "readlink /run/current-system").trim(), gen2);
    let after = keys.ok(ports.0, &format!("{STRATA} generations list --json"));
    let rows: serde_json::Value = serde_json::from_str(&after).unwrap();
    let current: Vec<u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["current"] == true)
        .map(|r| r["number"].as_u64().unwrap())
        .collect();
    assert_eq!(current, [2], "the profile did not move: {after}");

    // A fleet of both: names, a user and a service on each, seen over SSH.
    let fdir = conf.parent().unwrap();
    let f = fleet(fdir, ports, ERIN, "");
    let fs_ = f.display().to_string();
    let o = strata(
        &s,
        &keys,
        &["deploy", "-f", &fs_, "--confirm-within", "90s"],
    );
    assert_eq!(o.code, Some(0), "{}\n{}", o.text(), o.stderr);
    assert_eq!(row(&o, "alpha")[4], "switched");
    assert_eq!(row(&o, "beta")[4], "switched");
    for (port, name) in [(ports.0, "alpha"), (ports.1, "beta")] {
        assert_eq!(keys.ok(port, "cat /proc/sys/kernel/hostname").trim(), name);
        assert!(keys.ok(port, "id erin").contains("(erin)"));
        assert_eq!(
            keys.ok(port, "cat /run/fleet-hello").trim(),
            format!("hello from {name}")
        );
    }
    let beta_before = keys.ok(ports.1, "readlink /run/current-system");
    let beta_gen = row(&o, "beta")[3].clone();

    // beta's next generation firewalls SSH off: it cannot be confirmed and goes back by itself.
    fleet(
        fdir,
        ports,
        &format!("{ERIN}\n    environment.etc.\"fleet-note\".text = \"second\";"),
        "services.openssh.openFirewall = false;",
    );
    let o = strata(
        &s,
        &keys,
        &["deploy", "-f", &fs_, "--confirm-within", "45s"],
    );
    assert_eq!(o.code, Some(1), "{}\n{}", o.text(), o.stderr);
    let ra = row(&o, "alpha");
    assert_eq!(ra[4], "switched", "{ra:?}");
    let rb = row(&o, "beta");
    assert!(
        rb[4].starts_with("reverted: not confirmed"),
        "{rb:?}\n{}",
        o.stderr
    );
    assert_eq!(rb[3], beta_gen, "{rb:?}");
    assert_eq!(
        keys.ok(ports.1, "readlink /run/current-system"),
        beta_before
    );
    assert_eq!(keys.ok(ports.0, "cat /etc/fleet-note"), "second");
    let (code, _) = keys.run(ports.1, "cat /etc/fleet-note");
    assert_ne!(code, 0, "beta kept the reverted generation's /etc");

    // An unknown machine: refused before anything is built or reached.
    let o = strata(&s, &keys, &["deploy", "-f", &fs_, "--on", "gamma"]);
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.contains("no machine named 'gamma'"),
        "{}",
        o.stderr
    );

    // beta powered off: alpha is deployed, beta reported unreachable.
    super::power_off(b);
    let o = strata(
        &s,
        &keys,
        &["deploy", "-f", &fs_, "--confirm-within", "45s"],
    );
    assert_eq!(o.code, Some(1), "{}\n{}", o.text(), o.stderr);
    assert_eq!(row(&o, "alpha")[4], "switched");
    let rb = row(&o, "beta");
    assert!(rb[4].starts_with("unreachable: cannot reach"), "{rb:?}");
    super::power_off(a);
}
