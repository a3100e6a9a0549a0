//! The example system's kernel and initrd booted in QEMU (direct kernel boot, TCG): stage 1
//! finds the root by its label, mounts it and starts the generation's init; without the disk,
//! the bounded wait ends in a clear message and a working shell.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use strata_qemu_tests::{have_qemu, store_image, DirectBoot, Machine};

use crate::system::{build, example, link_target, shared, Shared};

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

fn require_qemu() {
    assert!(
        have_qemu(),
        "these tests boot QEMU: install qemu-system-x86 (./scripts/test does)"
    );
}

/// Builds the example (in the shared store) and returns its toplevel.
fn example_toplevel(s: &Shared) -> String {
    let f = example();
    build(s, &["-f", f.to_str().unwrap(), "--no-out-link"])
        .ok()
        .line()
}

/// An image labelled `strata` holding the toplevel and strata (enough for stage 1 to find
/// `init=` and start it).
fn root_image(s: &Shared, top: &str, dir: &Path) -> PathBuf {
    let strata = link_target(&s.real(top).join("strata"));
    store_image(&s.root(), &[top.to_owned(), strata], "strata", dir).unwrap()
}

fn direct_boot(
    s: &Shared,
    top: &str,
    append: String,
    disks: Vec<PathBuf>,
    log: PathBuf,
) -> DirectBoot {
    let t = s.real(top);
    DirectBoot {
        kernel: s.real(&link_target(&t.join("kernel"))),
        initrd: s.real(&link_target(&t.join("initrd"))),
        append,
        disks,
        memory_mib: 512,
        log,
    }
}

/// Keeps the console log of a failed boot where CI can find it.
fn log_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("strata-qemu-logs");
    fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.log"))
}

#[test]
fn stage_1_finds_the_root_by_label_and_starts_the_generation() {
    require_qemu();
    let (top, boot, _dir) = {
        let s = shared();
        let top = example_toplevel(&s);
        let dir = tempfile::tempdir().unwrap();
        let img = root_image(&s, &top, dir.path());
        let boot = direct_boot(
            &s,
            &top,
            format!("init={top}/init"),
            vec![img],
            log_path("stage1-root"),
        );
        (top, boot, dir)
    };
    let m = Machine::start(&boot).unwrap();
    let t0 = m
        .wait_for_console_text("strata: stage 1", BOOT_TIMEOUT)
        .unwrap();
    m.wait_for_console_text("strata: loaded", BOOT_TIMEOUT)
        .unwrap();
    let t1 = m
        .wait_for_console_text("strata: mounted /dev/vda (ext4) as the root", BOOT_TIMEOUT)
        .unwrap();
    // Stage 2 runs only where the initrd's configuration is gone: on the real root.
    let t2 = m
        .wait_for_console_text("strata: stage 2", BOOT_TIMEOUT)
        .unwrap();
    eprintln!(
        "stage 1 started at {:.2} s, root mounted at {:.2} s, stage 2 at {:.2} s ({top})",
        t0.as_secs_f64(),
        t1.as_secs_f64(),
        t2.as_secs_f64()
    );
}

#[test]
fn a_missing_root_ends_in_a_clear_message_and_a_shell() {
    require_qemu();
    let boot = {
        let s = shared();
        let top = example_toplevel(&s);
        direct_boot(
            &s,
            &top,
            format!("init={top}/init strata.root_timeout=3"),
            Vec::new(),
            log_path("stage1-no-root"),
        )
    };
    let mut m = Machine::start(&boot).unwrap();
    m.wait_for_console_text(
        "strata: the root device LABEL=strata did not appear within 3 s; block devices present: none",
        BOOT_TIMEOUT,
    )
    .unwrap();
    let (_, at) = m
        .wait_for_console_text_from("starting an emergency shell", 0, BOOT_TIMEOUT)
        .unwrap();
    // Give the shell a moment to print its prompt, then use it.
    m.wait_for_console_text_from("#", at, BOOT_TIMEOUT).unwrap();
    m.send("echo shell-$((6 * 7))\n").unwrap();
    m.wait_for_console_text_from("shell-42", at, Duration::from_secs(60))
        .unwrap();
}

/// A root image holding the toplevel's whole closure but the kernel (the kernel and the
/// modules these tests need come from the direct boot and the initrd).
fn closure_image(s: &Shared, top: &str, dir: &Path) -> PathBuf {
    let mut closure = crate::strata_store(&s.root(), ["closure", top]);
    let paths: Vec<String> = crate::run(&mut closure, None)
        .ok()
        .lines()
        .into_iter()
        .filter(|p| !p.ends_with("-kernel"))
        .collect();
    store_image(&s.root(), &paths, "strata", dir).unwrap()
}

/// The example with `services` (Nix attribute definitions) added, built in the shared store,
/// its closure on a disk in `dir`, booted directly; the console log is named `log`.
fn example_with_services(dir: &Path, services: &str, log: &str) -> DirectBoot {
    let s = shared();
    let conf = dir.join("configuration.nix");
    fs::write(
        &conf,
        format!(
            "{{ ... }}: {{\n  imports = [ {} ];\n{services}}}\n",
            example().display()
        ),
    )
    .unwrap();
    let lock = crate::system::repo().join("examples/strata.lock");
    let top = build(
        &s,
        &[
            "-f",
            conf.to_str().unwrap(),
            "--lock",
            lock.to_str().unwrap(),
            "--no-out-link",
        ],
    )
    .ok()
    .line();
    let img = closure_image(&s, &top, dir);
    direct_boot(
        &s,
        &top,
        format!("init={top}/init"),
        vec![img],
        log_path(log),
    )
}

/// Waits for QEMU to end by itself and checks it ended cleanly.
fn ends_cleanly(m: &mut Machine) {
    let status = m.wait_exit(Duration::from_secs(120));
    assert!(
        status.is_some_and(|s| s.success()),
        "QEMU did not end cleanly: {status:?}\n{}",
        m.last_lines(30)
    );
}

#[test]
fn stage_2_runs_services_restarts_a_crashing_one_and_powers_off() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    let boot = example_with_services(
        dir.path(),
        r#"
  systemd.services.crash = {
    wantedBy = [ "multi-user.target" ];
    script = "echo crash-attempt; exit 3";
    serviceConfig.Restart = "on-failure";
    serviceConfig.RestartSec = "1";
  };
  systemd.services.stopper = {
    wantedBy = [ "multi-user.target" ];
    after = [ "hello.service" ];
    script = "sleep 30; echo powering-off-now; /run/current-system/strata/bin/strata poweroff";
  };
"#,
        "stage2",
    );
    let mut m = Machine::start(&boot).unwrap();
    let t2 = m
        .wait_for_console_text("strata: stage 2", BOOT_TIMEOUT)
        .unwrap();
    m.wait_for_console_text("[hello] hello from saguaro", BOOT_TIMEOUT)
        .unwrap();
    // hello, crash, stopper and the network's and the hardware's services.
    let (up, _) = m
        .wait_for_console_regex(
            r"strata: saguaro is up \(\d+ services started\)",
            BOOT_TIMEOUT,
        )
        .unwrap();
    // The crashing service comes back after 1, 2, then 4 seconds.
    for (n, delay) in [(1, "1.0"), (2, "2.0"), (3, "4.0")] {
        m.wait_for_console_text(
            &format!("service crash exited with status 3; restarting in {delay} s (restart {n})"),
            BOOT_TIMEOUT,
        )
        .unwrap();
    }
    // The activation made the users and /etc; alice logs in on the serial console's prompt
    // (which shows the host name) with her initial password, in the configured time zone.
    m.wait_for_console_text(
        "strata: activation: created user alice (1000)",
        BOOT_TIMEOUT,
    )
    .unwrap();
    let (_, at) = m
        .wait_for_console_text_from("saguaro login:", 0, BOOT_TIMEOUT)
        .unwrap();
    m.send("alice\n").unwrap();
    let (_, at) = m
        .wait_for_console_text_from("Password:", at, BOOT_TIMEOUT)
        .unwrap();
    m.send("changeme\n").unwrap();
    m.wait_for_console_text_from("$ ", at, BOOT_TIMEOUT)
        .unwrap();
    m.send("echo \"who=$(id -un) groups=$(id -Gn) host=$(hostname) tz=$(date +%Z)\"\n")
        .unwrap();
    m.wait_for_console_text_from(
        "who=alice groups=users wheel host=saguaro tz=MST",
        at,
        BOOT_TIMEOUT,
    )
    .unwrap();
    // `strata poweroff` (run by a service) through the control socket ends QEMU cleanly.
    m.wait_for_console_text("strata: powering off", BOOT_TIMEOUT)
        .unwrap();
    ends_cleanly(&mut m);
    let text = m.console_text();
    assert!(
        text.contains("stopped stopper") || text.contains("service stopper"),
        "{}",
        m.last_lines(40)
    );
    eprintln!(
        "stage 2 at {:.2} s, ready at {:.2} s after QEMU started",
        t2.as_secs_f64(),
        up.as_secs_f64()
    );
}

#[test]
fn sigint_the_signal_of_ctrl_alt_delete_reboots_in_order() {
    require_qemu();
    let dir = tempfile::tempdir().unwrap();
    // With ctrl-alt-delete handed to PID 1 (reboot(RB_DISABLE_CAD)), the kernel sends it
    // SIGINT when the keys are pressed; a service sends the same signal here.
    let boot = example_with_services(
        dir.path(),
        r#"
  systemd.services.interrupt = {
    wantedBy = [ "multi-user.target" ];
    script = "sleep 3; kill -INT 1; sleep 60";
  };
"#,
        "sigint",
    );
    let mut m = Machine::start(&boot).unwrap();
    m.wait_for_console_text("strata: saguaro is up", BOOT_TIMEOUT)
        .unwrap();
    m.wait_for_console_text("strata: rebooting", BOOT_TIMEOUT)
        .unwrap();
    // The service that was still running is stopped before the kernel reboots (QEMU runs with
    // -no-reboot, so the reboot ends it).
    m.wait_for_console_text("strata: stopped interrupt", BOOT_TIMEOUT)
        .unwrap();
    ends_cleanly(&mut m);
    assert!(
        m.console_text().contains("reboot: Restarting system"),
        "{}",
        m.last_lines(20)
    );
}
