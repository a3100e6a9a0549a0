//! Scenario 9: a machine on a network. The example with DHCP on QEMU's user-mode network
//! (`restrict=on`: nothing leaves QEMU), OpenSSH, the firewall, a test service on TCP 8080 and
//! a NOPASSWD sudo rule for alice boots from a raw image (BIOS, GRUB), and in one boot:
//!
//! - DHCP gave eth0 QEMU's address; QEMU's DHCP names no DNS server under `restrict=on`, so a
//!   second card (eth1) is linked to the test's own DHCP server, whose lease names one and a
//!   domain: /etc/resolv.conf shows both; a name from
//!   networking.hosts resolves; the web service started after network-online.target;
//! - the host's OpenSSH client logs in with alice's key through the forwarded port and runs
//!   `sudo -n true` and `strata generations list`; alice's password works while
//!   PasswordAuthentication is on, root's password is refused (PermitRootLogin's default);
//! - 8080 is firewalled; a `strata switch` that allows it (and turns password logins off)
//!   opens it without a reboot and without dropping an SSH session opened before; alice's
//!   password is refused after it;
//! - after a reboot the host key is the one the client first saw, and 8080 is still open.
//!
//! The host's ssh runs with `-F /dev/null` and its own known-hosts file, so no setting of this
//! machine's changes what it does.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata_qemu_tests::dhcp::{DhcpServer, Lease};
use strata_qemu_tests::{base64, free_port, DiskBoot, Firmware, Machine, Nic};

use super::switch_and_rollback::{reboot, STRATA};
use super::{config, image, ok, ready};
use crate::system::shared;

/// The example as this scenario boots it: `key` is alice's authorized key.
fn networked(text: String, key: &str) -> String {
    text.replace(
        "  system.stateVersion",
        &format!(
            "  services.openssh.enable = true;\n  \
             users.users.alice.openssh.authorizedKeys.keys = [ \"{key}\" ];\n  \
             users.users.root.initialPassword = \"rootpw\";\n  \
             security.sudo.extraRules = [ {{ users = [ \"alice\" ]; commands = [ {{ command = \"ALL\"; options = [ \"NOPASSWD\" ]; }} ]; }} ];\n  \
             networking.hosts.\"192.0.2.77\" = [ \"db.test\" ];\n  \
             environment.systemPackages = [ pkgs.netcat-openbsd ];\n  \
             systemd.services.web = {{\n    \
               wantedBy = [ \"multi-user.target\" ];\n    \
               wants = [ \"network-online.target\" ];\n    \
               after = [ \"network-online.target\" ];\n    \
               serviceConfig.Restart = \"always\";\n    \
               script = \"while :; do echo web-ok | nc -N -l 8080; done\";\n  \
             }};\n\n  \
             system.stateVersion"
        ),
    )
}

/// The same with 8080 allowed and password logins off.
fn opened(text: &str) -> String {
    text.replace(
        "  services.openssh.enable = true;\n",
        "  services.openssh.enable = true;\n  \
         services.openssh.settings.PasswordAuthentication = false;\n  \
         services.openssh.settings.KbdInteractiveAuthentication = false;\n  \
         networking.firewall.allowedTCPPorts = [ 8080 ];\n",
    )
}

/// The host's ssh client, configured by its arguments alone.
struct Client {
    port: u16,
    key: PathBuf,
    known: PathBuf,
    askpass: PathBuf,
}

impl Client {
    fn new(dir: &Path, port: u16) -> Client {
        let key = dir.join("id_ed25519");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "strata-test", "-f"])
            .arg(&key)
            .output()
            .expect("ssh-keygen (openssh-client) runs");
        assert!(out.status.success(), "{out:?}");
        let askpass = dir.join("askpass");
        std::fs::write(&askpass, "#!/bin/sh\necho \"$STRATA_TEST_PASSWORD\"\n").unwrap();
        std::fs::set_permissions(
            &askpass,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        Client {
            port,
            key,
            known: dir.join("known_hosts"),
            askpass,
        }
    }

    fn public_key(&self) -> String {
        std::fs::read_to_string(self.key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// `ssh` to `user` with `check` as StrictHostKeyChecking; `password` logs in with it
    /// instead of the key.
    fn command(&self, user: &str, check: &str, password: Option<&str>) -> Command {
        let mut c = Command::new("ssh");
        c.args(["-F", "/dev/null", "-p", &self.port.to_string()])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known.display()))
            .args(["-o", "GlobalKnownHostsFile=/dev/null"])
            .arg("-o")
            .arg(format!("StrictHostKeyChecking={check}"))
            .args(["-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR"])
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null());
        match password {
            None => {
                c.args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"])
                    .arg(&self.key);
            }
            Some(p) => {
                c.args(["-o", "PubkeyAuthentication=no"])
                    .args([
                        "-o",
                        "PreferredAuthentications=password,keyboard-interactive",
                    ])
                    .args(["-o", "NumberOfPasswordPrompts=1"])
                    .env("SSH_ASKPASS", &self.askpass)
                    .env("SSH_ASKPASS_REQUIRE", "force")
                    .env("STRATA_TEST_PASSWORD", p);
            }
        }
        c.arg(format!("{user}@127.0.0.1"));
        c
    }

    /// Runs `cmd` as `user` with the key; (exit code, stdout + stderr).
    fn run(&self, user: &str, cmd: &str) -> (i32, String) {
        self.output(self.command(user, "yes", None).arg(cmd))
    }

    fn output(&self, c: &mut Command) -> (i32, String) {
        let out = c.output().expect("ssh runs");
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Waits (at most `limit`) until sshd accepts alice's key, accepting and recording the
    /// host key the first time; returns how long it took.
    fn wait_for_login(&self, limit: Duration, check: &str) -> Duration {
        let t = Instant::now();
        loop {
            let (code, out) = self.output(self.command("alice", check, None).arg("true"));
            if code == 0 {
                return t.elapsed();
            }
            assert!(
                t.elapsed() < limit,
                "sshd did not accept alice's key within {limit:?}: {out}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// What a connection to 127.0.0.1:`port` receives within `wait` (nothing when the guest's
/// firewall drops it: QEMU accepts on the host side and never gets through).
fn fetch(port: u16, wait: Duration) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(wait)).unwrap();
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    got
}

#[test]
fn dhcp_ssh_firewall_and_a_switch_that_opens_a_port() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let ssh_port = free_port().unwrap();
    let web_port = free_port().unwrap();
    let client = Client::new(dir.path(), ssh_port);
    let key = client.public_key();
    let conf = config(&dir.path().join("conf"), &|t| networked(t, &key));
    let img = image(&s, &conf, "raw", dir.path());
    let mut disk = DiskBoot::new(&img, "raw", Firmware::Bios, &dir.path().join("vm")).unwrap();
    let dhcp_socket = dir.path().join("dhcp.sock");
    disk.nics = vec![
        Nic::User {
            forwards: vec![(ssh_port, 22), (web_port, 8080)],
        },
        Nic::Stream {
            socket: dhcp_socket.clone(),
            listen: false,
            mac: "52:54:00:00:03:01".into(),
        },
    ];
    let lease = Lease {
        server: "192.0.2.1".parse().unwrap(),
        address: "192.0.2.50".parse().unwrap(),
        prefix_length: 24,
        dns: "192.0.2.53".parse().unwrap(),
        domain: "strata.test".into(),
    };
    let dhcp = DhcpServer::start(&dhcp_socket, lease.clone()).unwrap();
    let started = Instant::now();
    let m = Machine::boot_disk(&disk).unwrap();
    ready(&m, "network");
    let to_ready = started.elapsed();
    let first_login = client.wait_for_login(Duration::from_secs(300), "accept-new");
    eprintln!(
        "network (BIOS, TCG): QEMU start to ready marker {:.1} s, to sshd accepting alice's key {:.1} s",
        to_ready.as_secs_f64(),
        (to_ready + first_login).as_secs_f64()
    );

    // DHCP: QEMU's address, its DNS server in resolv.conf; networking.hosts resolves.
    let addr = ok(&m, "ip -4 -o addr show dev eth0");
    assert!(addr.contains("inet 10.0.2.15/24"), "{addr}");
    assert_eq!(
        ok(&m, "readlink -f /etc/resolv.conf").trim(),
        "/run/strata/resolv.conf"
    );
    // The second lease may come after the first (at most a minute).
    let lease1 = ok(
        &m,
        "for i in $(seq 600); do ip -4 -o addr show dev eth1 | grep -q 192.0.2.50/ && break; \
         sleep 0.1; done; ip -4 -o addr show dev eth1",
    );
    assert!(lease1.contains("inet 192.0.2.50/24"), "{lease1}");
    assert!(dhcp.acks() >= 1);
    let resolv = ok(&m, "cat /etc/resolv.conf");
    assert!(
        resolv.contains("nameserver 192.0.2.53\n") && resolv.contains("search strata.test\n"),
        "{resolv}\n{}\n{}",
        ok(&m, "grep -r . /run/strata/resolv.conf.d || true"),
        ok(&m, "cat /var/log/strata/dhcpcd.log")
    );
    assert!(ok(&m, "getent hosts db.test").starts_with("192.0.2.77"));
    assert!(ok(&m, "ip link show lo").contains("UP"));
    // The web service waited for network-online.target: it started after the wait ended.
    let console = m.console_text();
    let online = console
        .find("network-wait-online")
        .expect("network-wait-online ran");
    let web = console.find("started web").expect("web started");
    assert!(online < web, "web started before the network was online");

    // SSH with the key: sudo without a password (the test's rule), strata's generations.
    let (code, out) = client.run("alice", "sudo -n true && echo sudo-ok");
    assert_eq!((code, out.trim()), (0, "sudo-ok"), "{out}");
    let (code, out) = client.run("alice", "strata generations list");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains('1'), "{out}");
    // Passwords: alice's works while PasswordAuthentication is on; root's is refused.
    let (code, out) = client.output(
        client
            .command("alice", "yes", Some("changeme"))
            .arg("echo pw-ok"),
    );
    assert_eq!((code, out.trim()), (0, "pw-ok"), "alice's password: {out}");
    let (code, out) = client.output(client.command("root", "yes", Some("rootpw")).arg("true"));
    assert_ne!(code, 0, "root logged in with a password: {out}");
    assert!(out.contains("Permission denied"), "{out}");

    // The firewall: 8080 is not allowed, so nothing gets through.
    let refused = fetch(web_port, Duration::from_secs(5));
    assert!(!refused.contains("web-ok"), "{refused}");
    let rules = ok(&m, "nft list ruleset");
    assert!(
        rules.contains("dport 22") || rules.contains("dport { 22"),
        "{rules}"
    );

    // A session opened before the switch, kept waiting for a line.
    let mut session = client
        .command("alice", "yes", None)
        .arg("echo session-up; read line; echo \"still here: $line\"")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut session_out = session.stdout.take().unwrap();
    let mut up = [0u8; 11];
    session_out.read_exact(&mut up).unwrap();
    assert_eq!(&up, b"session-up\n");

    // The switch that allows 8080 and turns password logins off.
    let old = ok(&m, "cat /etc/strata/configuration.nix");
    let new = opened(&old);
    assert_ne!(old, new);
    ok(
        &m,
        &format!(
            "echo {} | base64 -d > /etc/strata/configuration.nix",
            base64(new.as_bytes())
        ),
    );
    let t = Instant::now();
    let r = m
        .run(&format!("{STRATA} switch 2>&1"), Duration::from_secs(900))
        .unwrap();
    let switched = t.elapsed();
    assert_eq!(r.code, 0, "strata switch failed:\n{}", r.output);
    let open = fetch(web_port, Duration::from_secs(30));
    assert!(open.contains("web-ok"), "8080 after the switch: {open:?}");
    eprintln!(
        "strata switch allowing 8080, in the TCG guest: {:.1} s until the switch returned, \
         {:.1} s until a connection got through",
        switched.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    // The session opened before is still there.
    let stdin = session.stdin.as_mut().unwrap();
    stdin.write_all(b"after the switch\n").unwrap();
    drop(session.stdin.take());
    let mut rest = String::new();
    session_out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "still here: after the switch\n");
    assert!(session.wait().unwrap().success());
    // Passwords are refused now; the key still works.
    let (code, out) = client.output(client.command("alice", "yes", Some("changeme")).arg("true"));
    assert_ne!(code, 0, "alice logged in with a password: {out}");
    assert!(out.contains("Permission denied (publickey)"), "{out}");
    assert_eq!(client.run("alice", "true").0, 0);

    // After a reboot: the same host key (StrictHostKeyChecking=yes against the first one) and
    // the firewall of the new generation.
    reboot(m);
    let _dhcp = DhcpServer::start(&dhcp_socket, lease).unwrap();
    let m = Machine::boot_disk(&disk).unwrap();
    ready(&m, "network: after the reboot");
    client.wait_for_login(Duration::from_secs(300), "yes");
    let open = fetch(web_port, Duration::from_secs(30));
    assert!(open.contains("web-ok"), "8080 after the reboot: {open:?}");
    super::power_off(m);
}
