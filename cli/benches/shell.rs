//! `strata shell`: the time to run `true` in a warm shell of 1 package and of 20, and the cold
//! time of the 20 from a local mirror.
//!
//! ```text
//! cargo bench -p strata-cli --bench shell
//! ```
//!
//! 1. **The packages, once.** `strata shell -p <the 20> --run true` in a cache store kept under
//!    `<target>/bench-data/shell/cache` fetches the `.deb`s of the shells' closures from the
//!    archive the host's apt sources name (later runs download nothing).
//! 2. **The mirror.** A `file://` mirror of those `.deb`s at their `pool/...` paths, and a copy
//!    of `examples/strata.lock` with its digest beside it, so nothing else is read.
//! 3. **Cold**: an empty store; `strata shell --lock <copy> --mirror <mirror> -p <the 20> --run
//!    true`: the digest taken from beside the lock, every `.deb` fetched from the mirror,
//!    unpacked, the tree joined, the shell entered.
//! 4. **Warm**: the same command again on that store (everything valid), for 1 package (`jq`)
//!    and for the 20: the remembered evaluation read, the check that the tree is valid, the GC
//!    roots, the namespaces and mounts, bash starting and running `true`. Then a shell.nix of
//!    the 20 beside the lock, which is evaluated every time (the package set and the shell).
//!
//! Each case runs `STRATA_BENCH_REPS` times (3 by default; the warm ones 5 times that), the best
//! shown with the median. The goal of the issue: a warm shell under 100 ms.
//!
//! Must not: name the archive's host (it comes from the host's apt sources through strata).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use strata_builder::debian::lock::LockFile;
use strata_store::local::delete_tree;

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

/// Twenty packages a developer might ask a shell for.
const TWENTY: [&str; 20] = [
    "jq", "git", "curl", "wget", "make", "python3", "ripgrep", "fd-find", "tree", "htop", "vim",
    "less", "file", "zip", "unzip", "rsync", "sqlite3", "patch", "xz-utils", "bc",
];

fn main() {
    let repo = common::repo();
    let lock_path = repo.join("examples/strata.lock");
    let lock: LockFile = common::debian::read_lock(&lock_path);
    let data = common::target_dir().join("bench-data/shell");
    let cache = data.join("cache");
    fs::create_dir_all(&cache).unwrap();
    let reps = common::reps();

    // 1. The packages, once, from the archive.
    let work = tempfile::tempdir().unwrap();
    let mut fill = shell_cmd(&cache, work.path());
    fill.args(["-p"]).args(TWENTY).args(["--run", "true"]);
    ok(&mut fill, "fill the cache store");
    let mut fill = shell_cmd(&cache, work.path());
    fill.args(["-p", "jq", "--run", "true"]);
    ok(&mut fill, "fill the cache store");

    // 2. The mirror and the lock with its digest.
    let digest = common::debian::digest_in_store(&cache, &lock);
    let records = common::debian::records(&digest);
    let mirror = work.path().join("mirror");
    let copied = common::debian::copy_debs(&cache, records.values(), &mirror);
    let lock_copy =
        common::debian::lock_with_digest(&lock_path, &digest, &work.path().join("lock"));
    let mirror_url = common::debian::file_url(&mirror);
    let mib: u64 = copied.iter().map(|r| r.size).sum::<u64>() / (1 << 20);
    println!(
        "strata shell, {} of Debian {} {}: the 20 packages' closure is among {} .debs ({mib} \
         MiB) in a file:// mirror; {reps} cold run(s), {} warm, best (median)",
        lock_path.display(),
        lock.suite,
        lock.architecture,
        copied.len(),
        reps * 5,
    );

    // 3. Cold.
    let mut cold = Vec::new();
    let mut root = work.path().join("store");
    for i in 0..reps {
        root = work.path().join(format!("store-{i}"));
        let mut c = shell_cmd(&root, work.path());
        c.arg("--lock")
            .arg(&lock_copy)
            .args(["--mirror", &mirror_url, "-p"])
            .args(TWENTY)
            .args(["--run", "true"]);
        cold.push(timed(&mut c));
        if i + 1 < reps {
            delete_tree(&root).unwrap();
        }
    }
    row("cold, 20 packages (fetch, unpack, join, enter)", &cold);

    // 4. Warm, on the last cold store.
    for (what, names) in [
        ("warm, 1 package (jq)", &TWENTY[..1]),
        ("warm, 20 packages", &TWENTY[..]),
    ] {
        let mut first = shell_cmd(&root, work.path());
        first
            .arg("--lock")
            .arg(&lock_copy)
            .args(["--mirror", &mirror_url, "-p"])
            .args(names)
            .args(["--run", "true"]);
        ok(&mut first, "build the shell once");
        let mut times = Vec::new();
        for _ in 0..reps * 5 {
            let mut c = shell_cmd(&root, work.path());
            c.arg("--lock")
                .arg(&lock_copy)
                .args(["-p"])
                .args(names)
                .args(["--run", "true"]);
            times.push(timed(&mut c));
        }
        row(what, &times);
    }
    // A shell.nix of the 20 is evaluated every time (it may read any file).
    let project = lock_copy.parent().unwrap();
    let list: Vec<String> = TWENTY
        .iter()
        .map(|n| format!("pkgs.{}", nix_name(n)))
        .collect();
    fs::write(
        project.join("shell.nix"),
        format!(
            "{{ pkgs ? import <nixpkgs> {{ }} }}: pkgs.mkShell {{ packages = [ {} ]; }}\n",
            list.join(" ")
        ),
    )
    .unwrap();
    let mut times = Vec::new();
    for _ in 0..reps * 5 {
        let mut c = shell_cmd(&root, project);
        c.args(["--mirror", &mirror_url, "--run", "true"]);
        times.push(timed(&mut c));
    }
    row("warm, shell.nix of the 20 (evaluated)", &times);
    let _ = delete_tree(&root);
}

/// `name` as a Nix attribute name (quoted when it is not an identifier).
fn nix_name(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_owned()
    } else {
        format!("\"{name}\"")
    }
}

/// `strata --store-root ROOT shell` in `dir`, with the host's archive (for the cache).
fn shell_cmd(root: &Path, dir: &Path) -> Command {
    let mut c = Command::new(STRATA);
    c.current_dir(dir)
        .env_remove("STRATA_DEBIAN_MIRROR")
        .env_remove("STRATA_STORE_ROOT")
        .arg("--store-root")
        .arg(root)
        .arg("shell");
    c
}

fn ok(c: &mut Command, what: &str) {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{what}: {:?} failed:\n{}",
        c,
        String::from_utf8_lossy(&o.stderr)
    );
}

fn timed(c: &mut Command) -> Duration {
    let start = Instant::now();
    ok(c, "the timed shell");
    start.elapsed()
}

fn row(what: &str, times: &[Duration]) {
    let mut sorted = times.to_vec();
    sorted.sort();
    println!(
        "  {what:<48} {:>9.1} ms ({:.1} ms)",
        sorted[0].as_secs_f64() * 1e3,
        sorted[sorted.len() / 2].as_secs_f64() * 1e3
    );
}
