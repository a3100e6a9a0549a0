//! Scenario 8: a machine that runs Debian's software. The example with `vim git curl htop jq
//! python3 less`, a second user bob outside wheel and a German locale boots from a raw image
//! (BIOS, GRUB), and in one boot:
//!
//! - alice gets root through sudo with her password, a wrong password is refused, and bob is
//!   refused with the refusal logged;
//! - vim edits a file, git commits, python3 runs with its standard library, a login shell has
//!   the configured locale, the loader resolves into the store;
//! - every ELF program of /usr/bin and /usr/sbin finds all its libraries;
//! - `strata switch` without jq takes it off PATH without a reboot while a process started
//!   before keeps running, and `strata rollback` brings it back.

use std::time::Duration;

use strata_qemu_tests::{base64, Firmware, Machine};

use super::switch_and_rollback::STRATA;
use super::{boot, disk, ok, power_off};
use crate::system::shared;

/// The example as this scenario changes it.
fn userspace(text: String) -> String {
    text.replace(
        "  system.stateVersion",
        "  environment.systemPackages = with pkgs; [ vim git curl htop jq python3 less ];\n  \
         i18n.defaultLocale = \"de_DE.UTF-8\";\n  \
         users.users.bob = { isNormalUser = true; initialPassword = \"bobpw\"; };\n\n  \
         system.stateVersion",
    )
}

/// Runs `cmd` as `user` (through su from root, which asks for no password); returns the exit
/// code and the output.
fn as_user(m: &Machine, user: &str, cmd: &str) -> (i32, String) {
    let r = m
        .run(
            &format!("su {user} -c {} 2>&1", shell_quote(cmd)),
            Duration::from_secs(120),
        )
        .unwrap_or_else(|e| panic!("as {user}: {cmd}: {e}"));
    (r.code, r.output)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

const SUDO: &str = "/run/wrappers/bin/sudo";

#[test]
fn debian_programs_sudo_locales_and_a_switch_that_drops_a_package() {
    let s = shared();
    let dir = tempfile::tempdir().unwrap();
    let disk = disk(&s, dir.path(), &userspace, "raw", Firmware::Bios);
    let m = boot(&disk, "Debian userspace");

    // The root file system's fixed links into the generation.
    assert_eq!(ok(&m, "readlink /usr").trim(), "/run/current-system/sw/usr");
    let loader = ok(&m, "readlink -f /lib64/ld-linux-x86-64.so.2");
    assert!(loader.starts_with("/nix/store/"), "{loader}");
    assert!(ok(&m, "ls -la /lib64/ld-linux-x86-64.so.2").contains("->"));
    // Debian's modprobe finds the running kernel's (compressed) modules.
    let probe = ok(&m, "modprobe -n -v dummy");
    assert!(probe.contains("dummy.ko.xz"), "{probe}");
    // Alternatives with their priorities.
    assert!(ok(&m, "readlink -f /usr/bin/vi")
        .trim()
        .ends_with("/vim.basic"));
    assert!(ok(&m, "readlink -f /usr/bin/awk").trim().ends_with("/mawk"));
    assert!(ok(&m, "readlink -f /usr/bin/pager")
        .trim()
        .ends_with("/less"));

    // sudo: the wrapper is setuid root; alice (wheel) with her password gets root.
    let wrapper = ok(&m, &format!("ls -l {SUDO}"));
    assert!(wrapper.starts_with("-r-s--x--x 1 root root"), "{wrapper}");
    let (code, out) = as_user(
        &m,
        "alice",
        &format!("echo changeme | {SUDO} -S -p '' id -u"),
    );
    assert_eq!((code, out.trim()), (0, "0"), "{out}");
    let (code, out) = as_user(
        &m,
        "alice",
        &format!("echo wrong | {SUDO} -k -S -p '' id -u"),
    );
    assert_ne!(code, 0, "a wrong password must be refused: {out}");
    assert!(!out.lines().any(|l| l.trim() == "0"), "{out}");
    let (code, out) = as_user(&m, "bob", &format!("echo bobpw | {SUDO} -S -p '' id -u"));
    assert_ne!(code, 0, "bob is not in wheel: {out}");
    let log = ok(&m, "cat /var/log/sudo.log");
    assert!(log.contains("bob : user NOT in sudoers"), "{log}");

    // Debian's programs work.
    ok(
        &m,
        "printf 'hello\\n' > /tmp/f && vim -es -c '%s/hello/world/' -c 'wq' /tmp/f",
    );
    assert_eq!(ok(&m, "cat /tmp/f").trim(), "world");
    let commits = ok(
        &m,
        "cd /tmp && git init -q r && cd r && \
         git -c user.name=a -c user.email=a@b commit -q --allow-empty -m x && \
         git log --oneline | wc -l",
    );
    assert_eq!(commits.trim(), "1");
    assert_eq!(
        ok(&m, "python3 -c 'import json; print(json.dumps([1]))'").trim(),
        "[1]"
    );
    assert!(ok(&m, "jq -n '1+1'").contains('2'));
    assert!(ok(&m, "curl --version").starts_with("curl "));
    assert!(ok(&m, "htop --version").contains("htop"));
    let (_, locale) = as_user(&m, "alice", "locale; date +%A >/dev/null");
    assert!(locale.contains("LANG=de_DE.UTF-8"), "{locale}");
    assert!(!locale.contains("Cannot set"), "{locale}");
    let (_, german) = as_user(&m, "alice", "LC_ALL=de_DE.UTF-8 date -d 2024-01-01 +%B");
    assert_eq!(german.trim(), "Januar");

    // Every ELF program finds its libraries.
    let walk = m
        .run(
            "n=0; for f in /usr/bin/* /usr/sbin/*; do [ -f \"$f\" ] || continue; \
             case \"$(head -c 4 \"$f\" | tr -d '\\000')\" in *ELF*) n=$((n+1)); \
             out=$(/lib64/ld-linux-x86-64.so.2 --list \"$f\" 2>&1); \
             case \"$out\" in *'not found'*) echo \"$f: $out\";; esac;; esac; done; \
             echo \"checked $n\"",
            Duration::from_secs(900),
        )
        .unwrap();
    let last = walk.output.lines().last().unwrap_or_default().to_owned();
    let checked: usize = last
        .strip_prefix("checked ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", walk.output));
    assert!(checked > 200, "only {checked} ELF files: {}", walk.output);
    assert_eq!(walk.output.lines().count(), 1, "{}", walk.output);
    eprintln!("{checked} ELF programs find their libraries");

    // A switch on the unchanged configuration (the benchmark: printed, not asserted).
    let t = std::time::Instant::now();
    let r = m
        .run(&format!("{STRATA} switch 2>&1"), Duration::from_secs(900))
        .unwrap();
    assert_eq!(r.code, 0, "strata switch failed:\n{}", r.output);
    eprintln!(
        "strata switch on an unchanged configuration, in the TCG guest: {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // A switch that drops jq: off PATH at once, while a process started before keeps running.
    let pid = ok(&m, "sleep 1000 > /dev/null 2>&1 < /dev/null & echo $!");
    let pid = pid.trim();
    let conf = ok(&m, "cat /etc/strata/configuration.nix");
    let without = conf.replace(" jq ", " ");
    assert_ne!(conf, without);
    ok(
        &m,
        &format!(
            "echo {} | base64 -d > /etc/strata/configuration.nix",
            base64(without.as_bytes())
        ),
    );
    let t = std::time::Instant::now();
    let r = m
        .run(&format!("{STRATA} switch 2>&1"), Duration::from_secs(1500))
        .unwrap();
    assert_eq!(r.code, 0, "strata switch failed:\n{}", r.output);
    eprintln!(
        "strata switch without jq (the userspace made again), in the TCG guest: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let gone = m
        .run("sh -lc 'command -v jq'", Duration::from_secs(60))
        .unwrap();
    assert_ne!(gone.code, 0, "jq is still there: {}", gone.output);
    assert!(!ok(&m, "ls /usr/bin").lines().any(|l| l == "jq"));
    ok(&m, &format!("kill -0 {pid}"));
    let r = m
        .run(&format!("{STRATA} rollback 2>&1"), Duration::from_secs(600))
        .unwrap();
    assert_eq!(r.code, 0, "strata rollback failed:\n{}", r.output);
    assert_eq!(
        ok(&m, "sh -lc 'command -v jq'").trim(),
        "/usr/bin/jq",
        "rollback brings jq back"
    );
    ok(&m, &format!("kill {pid}"));
    power_off(m);
}
