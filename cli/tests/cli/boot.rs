//! The example system's kernel and initrd booted in QEMU (direct kernel boot, TCG): stage 1
//! finds the root by its label, mounts it and starts the generation's init; without the disk,
//! the bounded wait ends in a clear message and a working shell.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use strata_qemu_tests::{have_qemu, DirectBoot, Machine};

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

/// An ext4 image labelled `strata` holding the toplevel and strata (enough for stage 1 to find
/// `init=` and start it).
fn root_image(s: &Shared, top: &str, dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    let store = root.join("nix/store");
    fs::create_dir_all(&store).unwrap();
    let strata = link_target(&s.real(top).join("strata"));
    for p in [top, strata.as_str()] {
        let ok = Command::new("cp")
            .arg("-R")
            .arg(s.real(p))
            .arg(&store)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let img = dir.join("root.img");
    fs::File::create(&img).unwrap().set_len(128 << 20).unwrap();
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "strata", "-d"])
        .arg(&root)
        .arg(&img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    img
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
