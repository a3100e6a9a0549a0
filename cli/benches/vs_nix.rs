//! strata against Nix, timed in one run and printed side by side.
//!
//! ```text
//! cargo bench -p strata-cli --bench vs_nix
//! ```
//!
//! Cargo builds the `strata` binary in release mode and this program runs it as a user would,
//! next to Nix's own tools (`nix-store`, `nix-hash`; Debian's `nix-bin`), on the same inputs:
//!
//! 1. **NAR hash** of a large tree: `strata hash path --base16 T` against
//!    `nix-hash --type sha256 T` (the two printed hashes must agree).
//! 2. **add** of that tree to a fresh store: `strata store --store-root R add T` against
//!    `nix-store --store R2 --add T` (a Nix "chroot store"; both must print the same path).
//! 3. **GC of 10,000 dead paths**: two fresh stores are filled with the same 10,000 small
//!    unrooted text paths by importing one export stream (`strata store import`,
//!    `nix-store --import`; not timed), then `strata store --store-root R gc` against
//!    `nix-store --store R2 --gc`. Both must report 10,000 deleted paths and leave an empty
//!    store directory.
//!
//! Each case is run once untimed to warm the page cache, then `STRATA_BENCH_REPS` times (3 by
//! default) for each tool, alternating which goes first, with `sync` before every timed
//! command so that neither pays for the other's write-back. The stores the adds of case 2 make
//! are only deleted once the case is over (see `bench_add`). The table shows the best and the
//! median wall-clock time of each tool and the ratio of the best times (below 1: strata is
//! faster).
//!
//! The tree is `STRATA_BENCH_TREE` if set. Otherwise the program prepares a Linux kernel
//! modules tree (about 400 MB, some 4,000 files) under `target/bench-data/kernel/`: it asks
//! `apt-cache depends linux-image-amd64` which kernel image package that metapackage stands
//! for, fetches it with `apt-get download` from the machine's configured APT sources and
//! unpacks it with `dpkg-deb -x`; the tree is its `lib/modules/<version>`. That needs an APT
//! package list (`apt-get update`) once; the unpacked tree is reused by later runs.
//!
//! Other settings: `STRATA_BENCH_GC_PATHS` (10000) is the number of dead paths of case 3.
//! Stores are made under `target/bench-data/run/` and removed afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use strata_store::local::delete_tree;
use strata_store::{LocalStore, StoreDir, StorePath};

mod common;

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

fn main() {
    for tool in ["nix-store", "nix-hash"] {
        if Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            println!("vs_nix: '{tool}' is not available; install Nix (Debian: nix-bin). Skipped.");
            return;
        }
    }
    let reps: usize = env_num("STRATA_BENCH_REPS", 3).max(1);
    let gc_paths: usize = env_num("STRATA_BENCH_GC_PATHS", 10_000).max(1);
    let data = target_dir().join("bench-data");
    let run = data.join("run");
    remove(&run);
    fs::create_dir_all(&run).expect("create the bench directory");

    let tree = match std::env::var_os("STRATA_BENCH_TREE").filter(|t| !t.is_empty()) {
        Some(t) => PathBuf::from(t),
        None => prepare_kernel_tree(&data.join("kernel")),
    };
    let (bytes, files) = tree_size(&tree);
    let mib = bytes as f64 / (1024.0 * 1024.0);
    println!("tree: {} ({mib:.0} MiB in {files} files)", tree.display());
    if !(300.0..=500.0).contains(&(bytes as f64 / 1e6)) {
        println!(
            "warning: the tree is {:.0} MB, outside the intended 300-500 MB",
            bytes as f64 / 1e6
        );
    }
    println!(
        "strata: {STRATA}\nnix:    {}\nrepetitions: {reps}; load average at start: {}",
        first_line(&run_ok(common::nix_command("nix-store").arg("--version")).stdout),
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    let rows = vec![
        bench_hash(&tree, reps, mib, files),
        bench_add(&tree, &run, reps, mib),
        bench_gc(&run, reps, gc_paths),
    ];
    remove(&run);

    println!();
    println!(
        "{:<40} {:>12} {:>12} {:>12} {:>12} {:>11}",
        "case", "strata best", "strata med", "nix best", "nix med", "strata/nix"
    );
    for r in &rows {
        let (sb, sm) = best_median(&r.strata);
        let (nb, nm) = best_median(&r.nix);
        println!(
            "{:<40} {:>12} {:>12} {:>12} {:>12} {:>11.2}",
            r.name,
            secs(sb),
            secs(sm),
            secs(nb),
            secs(nm),
            sb.as_secs_f64() / nb.as_secs_f64()
        );
    }
    println!();
    for r in &rows {
        println!(
            "{}: strata {:?}, nix {:?}",
            r.name,
            r.strata.iter().map(|d| secs(*d)).collect::<Vec<_>>(),
            r.nix.iter().map(|d| secs(*d)).collect::<Vec<_>>()
        );
    }
}

struct Row {
    name: String,
    strata: Vec<Duration>,
    nix: Vec<Duration>,
}

/// Case 1: the NAR hash of the tree.
fn bench_hash(tree: &Path, reps: usize, mib: f64, files: u64) -> Row {
    let strata = || {
        let mut c = Command::new(STRATA);
        c.args(["hash", "path", "--base16"]).arg(tree);
        c
    };
    let nix = || {
        let mut c = common::nix_command("nix-hash");
        c.args(["--type", "sha256"]).arg(tree);
        c
    };
    // Warm-up, and the two must agree.
    let a = first_line(&run_ok(&mut strata()).stdout);
    let b = first_line(&run_ok(&mut nix()).stdout);
    assert_eq!(a, b, "strata and nix-hash disagree on the NAR hash");
    let mut row = Row {
        name: format!("NAR hash, {mib:.0} MiB / {files} files"),
        strata: Vec::new(),
        nix: Vec::new(),
    };
    for rep in 0..reps {
        for first in [rep % 2 == 0, rep % 2 != 0] {
            if first {
                row.strata.push(timed(&mut strata()).0);
            } else {
                row.nix.push(timed(&mut nix()).0);
            }
        }
    }
    row
}

/// Case 2: adding the tree to a fresh store.
fn bench_add(tree: &Path, run: &Path, reps: usize, mib: f64) -> Row {
    let strata = |root: &Path| {
        let mut c = Command::new(STRATA);
        c.arg("store")
            .arg("--store-root")
            .arg(root)
            .arg("add")
            .arg(tree);
        c
    };
    let nix = |root: &Path| {
        let mut c = common::nix_command("nix-store");
        c.arg("--store").arg(root).arg("--add").arg(tree);
        c
    };
    let mut row = Row {
        name: format!("add to a fresh store, {mib:.0} MiB"),
        strata: Vec::new(),
        nix: Vec::new(),
    };
    // Every add goes to a store of its own, and none is deleted before the case ends: ext4
    // makes the first writer after a large deletion pay for scanning the recently freed inodes,
    // which would penalise whichever tool happened to run right after a cleanup.
    let roots = |tool: &str, rep: usize| run.join(format!("add-{tool}-{rep}"));
    // Warm-up: one untimed add each, which must give the same store path.
    let a = first_line(&run_ok(&mut strata(&roots("strata", 0))).stdout);
    let b = first_line(&run_ok(&mut nix(&roots("nix", 0))).stdout);
    assert_eq!(
        a, b,
        "strata and nix-store --add disagree on the store path"
    );
    for rep in 1..=reps {
        for first in [rep % 2 == 1, rep % 2 != 1] {
            sync();
            let (d, out) = if first {
                timed(&mut strata(&roots("strata", rep)))
            } else {
                timed(&mut nix(&roots("nix", rep)))
            };
            assert_eq!(first_line(&out.stdout), a);
            if first {
                row.strata.push(d);
            } else {
                row.nix.push(d);
            }
        }
    }
    for rep in 0..=reps {
        remove(&roots("strata", rep));
        remove(&roots("nix", rep));
    }
    row
}

/// Case 3: collecting `n` dead paths.
fn bench_gc(run: &Path, reps: usize, n: usize) -> Row {
    let stream = run.join("dead.export");
    let t = Instant::now();
    let paths = make_dead_stream(&run.join("gc-scratch"), &stream, n);
    println!(
        "gc: made an export stream of {n} text paths in {}",
        secs(t.elapsed())
    );
    let mut row = Row {
        name: format!("GC of {n} dead paths"),
        strata: Vec::new(),
        nix: Vec::new(),
    };
    let (rs, rn) = (run.join("gc-strata"), run.join("gc-nix"));
    // The first round is the warm-up.
    for rep in 0..=reps {
        remove(&rs);
        remove(&rn);
        let t = Instant::now();
        let out = run_ok(
            Command::new(STRATA)
                .arg("store")
                .arg("--store-root")
                .arg(&rs)
                .arg("import")
                .arg(&stream),
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), n);
        let ts = t.elapsed();
        let t = Instant::now();
        let out = run_ok(
            common::nix_command("nix-store")
                .arg("--store")
                .arg(&rn)
                .arg("--import")
                .stdin(fs::File::open(&stream).expect("open the stream")),
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), n);
        if rep == 0 {
            println!(
                "gc: populating (not timed) took strata import {}, nix-store --import {}",
                secs(ts),
                secs(t.elapsed())
            );
        }
        for root in [&rs, &rn] {
            assert_eq!(
                store_entries(root),
                paths,
                "{} was not populated",
                root.display()
            );
        }
        for first in [rep % 2 == 0, rep % 2 != 0] {
            sync();
            if first {
                let (d, out) = timed(
                    Command::new(STRATA)
                        .arg("store")
                        .arg("--store-root")
                        .arg(&rs)
                        .arg("gc"),
                );
                let deleted = String::from_utf8_lossy(&out.stdout).lines().count();
                assert_eq!(deleted, n, "strata deleted {deleted} paths");
                if rep > 0 {
                    row.strata.push(d);
                }
            } else {
                let (d, out) = timed(
                    common::nix_command("nix-store")
                        .arg("--store")
                        .arg(&rn)
                        .arg("--gc"),
                );
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                let want = format!("{n} store paths deleted");
                assert!(
                    text.contains(&want),
                    "nix-store --gc did not report '{want}':\n{}",
                    tail(&text)
                );
                if rep > 0 {
                    row.nix.push(d);
                }
            }
        }
        for root in [&rs, &rn] {
            let left = store_entries(root);
            assert!(
                left.is_empty(),
                "{} still holds {} entries",
                root.display(),
                left.len()
            );
        }
    }
    remove(&rs);
    remove(&rn);
    remove(&run.join("gc-scratch"));
    row
}

/// Adds `n` small unrooted text paths to a scratch store and exports them all to `stream`;
/// returns their base names.
fn make_dead_stream(scratch: &Path, stream: &Path, n: usize) -> BTreeSet<String> {
    remove(scratch);
    let mut store = LocalStore::open(scratch, StoreDir::default()).expect("open the scratch store");
    let mut paths: Vec<StorePath> = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!("dead path {i}\n");
        let info = store
            .add_text(&format!("dead-{i}"), body.as_bytes(), &BTreeSet::new())
            .expect("add a text path");
        paths.push(info.path);
    }
    let file = fs::File::create(stream).expect("create the stream");
    let mut w = std::io::BufWriter::new(file);
    store.export(&paths, &mut w).expect("export");
    w.flush().expect("write the stream");
    paths.iter().map(|p| p.base_name().to_owned()).collect()
}

/// Unpacks the kernel image package that `linux-image-amd64` depends on and returns its
/// modules tree, reusing an earlier unpacking.
fn prepare_kernel_tree(dir: &Path) -> PathBuf {
    let marker = dir.join("tree-path");
    if let Ok(p) = fs::read_to_string(&marker) {
        let p = PathBuf::from(p.trim());
        if p.is_dir() {
            return p;
        }
    }
    let deps = run_ok(Command::new("apt-cache").args(["depends", "linux-image-amd64"]));
    let deps = String::from_utf8_lossy(&deps.stdout);
    let package = deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| p.starts_with("linux-image-") && !p.starts_with('<'))
        .unwrap_or_else(|| {
            panic!(
                "apt-cache depends linux-image-amd64 names no kernel image package (run \
                 apt-get update, or set STRATA_BENCH_TREE):\n{deps}"
            )
        })
        .to_owned();
    println!("preparing the tree: downloading and unpacking {package}");
    remove(dir);
    let download = dir.join("download");
    fs::create_dir_all(&download).expect("mkdir");
    run_ok(
        Command::new("apt-get")
            .args(["download", &package])
            .current_dir(&download),
    );
    let deb = fs::read_dir(&download)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("apt-get download left no .deb");
    let unpacked = dir.join("unpacked");
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked));
    let _ = fs::remove_file(&deb);
    let modules = unpacked.join("lib/modules");
    let versions: Vec<PathBuf> = fs::read_dir(&modules)
        .unwrap_or_else(|e| panic!("{package} has no lib/modules: {e}"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    let tree = match versions.as_slice() {
        [one] => one.clone(),
        _ => modules,
    };
    fs::write(&marker, tree.to_str().expect("utf-8 path")).expect("write the marker");
    tree
}

/// Total size of the regular files under `p`, and their number.
fn tree_size(p: &Path) -> (u64, u64) {
    let md = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if md.is_dir() {
        let mut total = (0, 0);
        for e in fs::read_dir(p).expect("ls") {
            let (b, n) = tree_size(&e.expect("entry").path());
            total.0 += b;
            total.1 += n;
        }
        total
    } else if md.is_file() {
        (md.size(), 1)
    } else {
        (0, 0)
    }
}

fn store_entries(root: &Path) -> BTreeSet<String> {
    fs::read_dir(root.join("nix/store"))
        .expect("ls the store")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .filter(|n| n != ".links")
        .collect()
}

/// Runs a command to completion with its output captured; panics unless it succeeded.
fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stderr))
    );
    out
}

/// Like [`run_ok`], timing the run.
fn timed(cmd: &mut Command) -> (Duration, Output) {
    let t = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stderr))
    );
    (d, out)
}

fn sync() {
    let _ = Command::new("sync").status();
}

fn remove(p: &Path) {
    delete_tree(p).unwrap_or_else(|e| panic!("cannot remove {}: {e}", p.display()));
}

fn first_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn best_median(v: &[Duration]) -> (Duration, Duration) {
    let mut s = v.to_vec();
    s.sort();
    (s[0], s[s.len() / 2])
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Cargo's target directory: this program runs as `<target>/<profile>/deps/vs_nix-<hash>`.
fn target_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR").filter(|t| !t.is_empty()) {
        return std::path::absolute(t).expect("absolute target dir");
    }
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors()
        .nth(3)
        .map(Path::to_owned)
        .expect("the bench runs from <target>/<profile>/deps")
}
