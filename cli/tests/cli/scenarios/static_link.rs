//! Scenario 10: two machines on one link with static addresses. One image (BIOS, GRUB) of the
//! example with `networking.interfaces.eth0.ipv4.addresses` (no DHCP), OpenSSH, and names for
//! both addresses in `networking.hosts` boots twice, the two QEMUs joined by a `-netdev
//! stream` link over a Unix socket (nothing else on it). Both start as `left` (192.0.2.1); a
//! `strata switch` on the second gives it its own address and name (`right`, 192.0.2.2)
//! without a reboot. Then each reaches the other by name over SSH.

use std::path::Path;
use std::time::{Duration, Instant};

use strata_qemu_tests::{base64, DiskBoot, Firmware, Machine, Nic};

use super::switch_and_rollback::STRATA;
use super::{config, image, ok, ready};
use crate::system::shared;

/// The example on the link, as `left`; `key` is alice's authorized key.
fn on_the_link(text: String, key: &str) -> String {
    text.replace("\"saguaro\"", "\"left\"").replace(
        "  system.stateVersion",
        &format!(
            "  networking.useDHCP = false;\n  \
             networking.interfaces.eth0.ipv4.addresses = [ {{ address = \"192.0.2.1\"; prefixLength = 24; }} ];\n  \
             networking.hosts.\"192.0.2.1\" = [ \"left\" ];\n  \
             networking.hosts.\"192.0.2.2\" = [ \"right\" ];\n  \
             services.openssh.enable = true;\n  \
             users.users.alice.openssh.authorizedKeys.keys = [ \"{key}\" ];\n\n  \
             system.stateVersion"
        ),
    )
}

/// The second machine's configuration: its own name and address.
fn right(text: &str) -> String {
    text.replace(
        "networking.hostName = \"left\"",
        "networking.hostName = \"right\"",
    )
    .replace(
        "address = \"192.0.2.1\"; prefixLength",
        "address = \"192.0.2.2\"; prefixLength",
    )
}

/// A key pair made in `dir` (by the host's ssh-keygen): (private key, public key).
fn key_pair(dir: &Path) -> (String, String) {
    let key = dir.join("id_ed25519");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "strata-link", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen (openssh-client) runs");
    assert!(out.status.success(), "{out:?}");
    (
        std::fs::read_to_string(&key).unwrap(),
        std::fs::read_to_string(key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_owned(),
    )
}

/// Gives root on `m` the private key, and runs `ssh alice@peer hostname` from there until it
/// answers (sshd may still be making its host keys); returns the answer.
fn ssh_to(m: &Machine, peer: &str) -> String {
    let cmd = format!(
        "ssh -F /dev/null -i /root/link-key -o BatchMode=yes -o StrictHostKeyChecking=accept-new \
         -o UserKnownHostsFile=/root/known_hosts -o ConnectTimeout=10 -o LogLevel=ERROR alice@{peer} \
         'echo \"$(hostname) $SSH_CONNECTION\"'"
    );
    let t = Instant::now();
    loop {
        let r = m.run(&cmd, Duration::from_secs(60)).unwrap();
        if r.code == 0 {
            return r.output;
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "ssh to {peer} failed: {}",
            r.output
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn two_machines_with_static_addresses_reach_each_other_by_name() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(dir.path());
    let conf = config(&dir.path().join("conf"), &|t| on_the_link(t, &public));
    let img = image(&s, &conf, "raw", dir.path());
    let link = dir.path().join("link.sock");
    let mut disks = Vec::new();
    for (name, listen, mac) in [
        ("left", true, "52:54:00:00:02:01"),
        ("right", false, "52:54:00:00:02:02"),
    ] {
        let mut d = DiskBoot::new(&img, "raw", Firmware::Bios, &dir.path().join(name)).unwrap();
        d.nics = vec![Nic::Stream {
            socket: link.clone(),
            listen,
            mac: mac.to_owned(),
        }];
        disks.push(d);
    }
    // The listening side first: the other connects to its socket when it starts.
    let left = Machine::boot_disk(&disks[0]).unwrap();
    let t = Instant::now();
    while !link.exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "no link socket");
        std::thread::sleep(Duration::from_millis(50));
    }
    let right_m = Machine::boot_disk(&disks[1]).unwrap();
    ready(&left, "link: left");
    ready(&right_m, "link: right (still as left)");

    // The second machine takes its own name and address with a switch, without a reboot.
    let old = ok(&right_m, "cat /etc/strata/configuration.nix");
    let new = right(&old);
    assert_ne!(old, new);
    ok(
        &right_m,
        &format!(
            "echo {} | base64 -d > /etc/strata/configuration.nix",
            base64(new.as_bytes())
        ),
    );
    let r = right_m
        .run(&format!("{STRATA} switch 2>&1"), Duration::from_secs(900))
        .unwrap();
    assert_eq!(r.code, 0, "strata switch failed:\n{}", r.output);
    let addr = ok(&right_m, "ip -4 -o addr show dev eth0");
    assert!(addr.contains("inet 192.0.2.2/24"), "{addr}");
    assert!(
        !addr.contains("192.0.2.1/"),
        "the old address stayed: {addr}"
    );
    assert_eq!(
        ok(&right_m, "cat /proc/sys/kernel/hostname").trim(),
        "right"
    );
    let left_addr = ok(&left, "ip -4 -o addr show dev eth0");
    assert!(left_addr.contains("inet 192.0.2.1/24"), "{left_addr}");
    // No DHCP client runs on a machine without DHCP.
    assert!(!ok(&left, "ls /var/log/strata").contains("dhcpcd"));

    // Each reaches the other by name, over SSH.
    for m in [&left, &right_m] {
        ok(
            m,
            &format!(
                "echo {} | base64 -d > /root/link-key && chmod 600 /root/link-key",
                base64(private.as_bytes())
            ),
        );
    }
    let from_left = ssh_to(&left, "right");
    assert!(from_left.starts_with("right 192.0.2.1 "), "{from_left}");
    let from_right = ssh_to(&right_m, "left");
    assert!(from_right.starts_with("left 192.0.2.2 "), "{from_right}");
    super::power_off(right_m);
    super::power_off(left);
}
