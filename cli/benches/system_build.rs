//! `strata build` of `examples/configuration.nix`: cold, warm and no-op, and the closure size.
//!
//! ```text
//! cargo bench -p strata-cli --bench system_build
//! ```
//!
//! 1. `cold, network`: an empty store; the packages come from the Debian archive the host's apt
//!    sources name (this run's network speed is part of the figure).
//! 2. `cold, packages cached`: an empty store; the `.deb` files come from a local `file://`
//!    mirror made from the first store (the packages were fetched once; everything else is
//!    done again: unpacking, the sandboxed builds, the initrd, the toplevel). The first
//!    store's `.deb`s are found through the lock's digest (each record's `filename` and
//!    `sha256` name its fixed-output path), and the build reads a copy of the lock with the
//!    digest beside it (`debian-digest`), so it fetches no index.
//! 3. `warm, one option changed`: `networking.hostName` set to a new name in the second store.
//! 4. `no-op rebuild`: the unchanged configuration again.
//!
//! Cases 2 to 4 run `STRATA_BENCH_REPS` times (3 by default); the best is shown. The toplevel's
//! closure size (the sum of its paths' NAR sizes) is printed with the kernel's share,
//! beside the sizes published for NixOS minimal systems. NixOS itself cannot be built here (no
//! nixpkgs, no binary cache), so no NixOS build times are measured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

/// Runs `strata --store-root ROOT build ARGS...`; returns the time and the toplevel.
fn build(root: &Path, args: &[&str]) -> (Duration, String) {
    let start = Instant::now();
    let out = Command::new(STRATA)
        .arg("--store-root")
        .arg(root)
        .arg("build")
        .arg("--no-out-link")
        .args(args)
        .env_remove("STRATA_DEBIAN_MIRROR")
        .output()
        .unwrap();
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "strata build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        took,
        String::from_utf8(out.stdout).unwrap().trim().to_owned(),
    )
}

/// A `file://` mirror in `dir` holding every `.deb` of the lock's digest that is in `root`'s
/// store (the fetched `.deb`s are fixed-output paths named after their file, found through
/// the digest's `filename` and `sha256`), and a copy of the lock with the digest beside it, so
/// a build in an empty store makes nothing from the archive's indexes. Returns the mirror's
/// URL, the lock copy and how many `.deb`s the mirror holds.
fn local_mirror(root: &Path, lock: &Path, dir: &Path) -> (String, PathBuf, usize) {
    let parsed = common::debian::read_lock(lock);
    let digest = common::debian::digest_in_store(root, &parsed);
    let records = common::debian::records(&digest);
    let mirror = dir.join("mirror");
    let debs = common::debian::copy_debs(root, records.values(), &mirror).len();
    assert!(debs > 0, "the first build fetched no .deb the digest names");
    let lock_copy = common::debian::lock_with_digest(lock, &digest, &dir.join("lock"));
    (common::debian::file_url(&mirror), lock_copy, debs)
}

fn closure_size(root: &Path, path: &str) -> (u64, u64) {
    let out = Command::new(STRATA)
        .arg("--store-root")
        .arg(root)
        .args(["store", "path-info", "-r", "--json", path])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (mut total, mut kernel) = (0, 0);
    for p in v.as_array().unwrap() {
        let n = p["narSize"].as_u64().unwrap();
        total += n;
        let path = p["path"].as_str().unwrap();
        if path.contains("-linux-image-") || path.ends_with("-kernel") {
            kernel += n;
        }
    }
    (total, kernel)
}

fn mib(n: u64) -> f64 {
    n as f64 / (1 << 20) as f64
}

fn main() {
    let reps = common::reps();
    let tmp = tempfile::tempdir().unwrap();
    let example = common::repo().join("examples/configuration.nix");
    let lock = common::repo().join("examples/strata.lock");
    let f = example.to_str().unwrap();

    let network = tmp.path().join("network");
    let (cold_net, top) = build(&network, &["-f", f]);
    let (mirror, lock_copy, debs) = local_mirror(&network, &lock, tmp.path());
    let lock_copy = lock_copy.to_str().unwrap();

    let mut cold = Duration::MAX;
    let mut warm = Duration::MAX;
    let mut noop = Duration::MAX;
    let mut root = PathBuf::new();
    for i in 0..reps {
        root = tmp.path().join(format!("cached-{i}"));
        let (t, again) = build(&root, &["-f", f, "--lock", lock_copy, "--mirror", &mirror]);
        assert_eq!(again, top, "the same toplevel from the cached packages");
        cold = cold.min(t);
        let changed = tmp.path().join(format!("host-{i}.nix"));
        fs::write(
            &changed,
            format!(
                "{{ lib, ... }}: {{ imports = [ {f} ]; networking.hostName = lib.mkForce \"bench{i}\"; }}\n"
            ),
        )
        .unwrap();
        let (t, other) = build(
            &root,
            &[
                "-f",
                changed.to_str().unwrap(),
                "--lock",
                lock.to_str().unwrap(),
            ],
        );
        assert_ne!(other, top);
        warm = warm.min(t);
        let (t, same) = build(&root, &["-f", f]);
        assert_eq!(same, top);
        noop = noop.min(t);
    }
    let (total, kernel) = closure_size(&root, &top);

    println!("strata build of examples/configuration.nix ({reps} runs, best shown)");
    println!(
        "(the cached cases: a file:// mirror of the {debs} .debs the first build fetched, and the \
         lock's digest beside a copy of the lock)"
    );
    println!();
    println!("| case | strata | NixOS |");
    println!("|---|---|---|");
    println!(
        "| cold, network (one run) | {:.2} s | cannot run here |",
        cold_net.as_secs_f64()
    );
    println!(
        "| cold, packages cached | {:.2} s | cannot run here |",
        cold.as_secs_f64()
    );
    println!(
        "| warm, one option changed | {:.3} s | cannot run here |",
        warm.as_secs_f64()
    );
    println!(
        "| no-op rebuild | {:.3} s | cannot run here |",
        noop.as_secs_f64()
    );
    println!(
        "| toplevel closure | {:.1} MiB (kernel and modules {:.1} MiB, the rest {:.1} MiB) | ~700 MiB minimal baseline; 467.7 MiB with the minimal, perlless and image-based-appliance profiles (NixOS 24.05, kernel 129.7 MiB, systemd 166 MiB), as published |",
        mib(total),
        mib(kernel),
        mib(total - kernel)
    );
}
