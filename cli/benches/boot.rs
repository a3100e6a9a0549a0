//! How fast a strata system boots: the example configuration, built by this `strata`, booted
//! in QEMU (direct kernel boot of its kernel and initrd, its closure on an ext4 disk, TCG).
//!
//! ```text
//! cargo bench -p strata-cli --bench boot
//! ```
//!
//! Printed, best of `STRATA_BENCH_REPS` boots (3 by default): the time from the kernel starting
//! `/init` (its "Run /init as init process" line) to stage 2 and to the ready marker
//! (`strata: <host> is up`), both as the console log's clock shows them, and the sizes of
//! `strata-init` and of the initrd. There is no peer here: NixOS cannot be built on this
//! machine (no nixpkgs), so its boot is not measured beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use strata_qemu_tests::{store_image, DirectBoot, Machine};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

fn strata(root: &Path, args: &[&str]) -> String {
    let out = Command::new(STRATA)
        .arg("--store-root")
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "strata {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The console log's time (seconds since QEMU started) of the first line holding `needle`.
fn at(log: &str, needle: &str) -> f64 {
    log.lines()
        .find(|l| l.contains(needle))
        .and_then(|l| l.strip_prefix('['))
        .and_then(|l| l.split(']').next())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {needle:?} in the log"))
}

fn main() {
    let reps = common::reps();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/configuration.nix");
    let top = strata(
        &root,
        &["build", "-f", example.to_str().unwrap(), "--no-out-link"],
    )
    .trim()
    .to_owned();
    let real = |p: &str| root.join(p.trim_start_matches('/'));
    let link = |p: PathBuf| fs::read_link(p).unwrap().to_string_lossy().into_owned();
    let paths: Vec<String> = strata(&root, &["store", "closure", &top])
        .lines()
        .filter(|p| !p.ends_with("-kernel"))
        .map(str::to_owned)
        .collect();
    let img = store_image(&root, &paths, "strata", tmp.path()).unwrap();
    let kernel = real(&link(real(&top).join("kernel")));
    let initrd = real(&link(real(&top).join("initrd")));
    let init = real(&link(real(&top).join("init")));

    let (mut to_stage2, mut to_ready) = (f64::MAX, f64::MAX);
    for i in 0..reps {
        // Each boot on a fresh copy: activation then sees a first boot every time.
        let disk = tmp.path().join(format!("disk-{i}.img"));
        fs::copy(&img, &disk).unwrap();
        let log = tmp.path().join(format!("boot-{i}.log"));
        let m = Machine::start(&DirectBoot {
            kernel: kernel.clone(),
            initrd: initrd.clone(),
            append: format!("init={top}/init"),
            disks: vec![disk],
            memory_mib: 512,
            log: log.clone(),
        })
        .unwrap();
        m.wait_for_console_text("strata: saguaro is up", Duration::from_secs(300))
            .unwrap();
        drop(m);
        let text = fs::read_to_string(&log).unwrap();
        let start = at(&text, "Run /init as init process");
        to_stage2 = to_stage2.min(at(&text, "strata: stage 2") - start);
        to_ready = to_ready.min(at(&text, "strata: saguaro is up") - start);
    }
    let size = |p: &Path| fs::metadata(p).unwrap().len() as f64 / 1024.0;
    println!("strata boot of examples/configuration.nix in QEMU (TCG), best of {reps}");
    println!();
    println!("| measure | strata |");
    println!("|---|---|");
    println!("| kernel starts init -> stage 2 | {to_stage2:.2} s |");
    println!("| kernel starts init -> ready marker | {to_ready:.2} s |");
    println!("| strata-init (static) | {:.0} KiB |", size(&init));
    println!("| initrd (zstd) | {:.0} KiB |", size(&initrd));
}
