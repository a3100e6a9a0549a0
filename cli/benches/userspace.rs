//! The userspace of the same 100-package set, made from the same local mirror: strata cold and
//! warm against `mmdebstrap --variant=essential` with those packages included.
//!
//! ```text
//! cargo bench -p strata-cli --bench userspace
//! ```
//!
//! 1. **The packages, once.** The 100 names of `userspace-100.txt` are looked up in the digest
//!    of `examples/strata.lock` (each must be there, usable and in `main`); with Debian's
//!    `Essential: yes` set they are closed over their dependencies as the digest chose them.
//!    `strata lock fetch` puts the digest and every `.deb` of that closure into a cache store
//!    kept under `<target>/bench-data/userspace/cache` (the archive is the one the host's apt
//!    sources name; later runs download nothing).
//! 2. **The mirror.** A `file://` mirror of exactly that closure: the `.deb`s at the archive's
//!    `pool/...` paths, `dists/<suite>/<component>/binary-<arch>/Packages` (and `.xz`, `.gz`)
//!    holding the original stanzas of those packages, copied from the index the lock pins
//!    (read from the host's apt lists when their sha256 is the lock's, else fetched as strata
//!    fetches it), and a `Release` file. Both tools read only this mirror.
//! 3. **mmdebstrap**: `mmdebstrap --mode=unshare --variant=essential --include=<the 100>
//!    --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount <suite> DIR
//!    "deb [trusted=yes] file://MIRROR <suite> main"` (the hook bind-mounts the mirror into the
//!    chroot, where dpkg reads the `.deb`s) in a clean environment (no
//!    `APT_CONFIG`, no host variables), as root (unshare mode as root keeps the user
//!    namespace; if it fails, root mode is used and said). It resolves, downloads from the
//!    mirror, unpacks, runs every maintainer script and configures the packages.
//! 4. **strata cold**: an empty store root; a configuration whose
//!    `environment.systemPackages` is the 100 packages (and whose only compiled locale is
//!    glibc's own C.UTF-8, as mmdebstrap compiles none) is evaluated through
//!    `modules/eval-config.nix` in this process (the code `strata build` runs, reading the
//!    digest from beside a copy of the lock), and `system.sw` (the generation's usr-merged tree:
//!    the packages, their dependencies and the essential set) is built with `strata realise`
//!    with `STRATA_DEBIAN_MIRROR` the mirror: fetching, unpacking, joining. The time is
//!    evaluation plus realisation. This is the userspace alone: a whole `strata build` would
//!    add the kernel, its modules, the initrd and `/etc`, which mmdebstrap does not make.
//! 5. **strata warm**: the same again on the same store (everything valid).
//!
//! Each case runs `STRATA_BENCH_REPS` times (3 by default), with `sync` before each timed
//! command; the best is shown with every run. The sizes are `du` of mmdebstrap's tree, of
//! strata's tree (hard links into the unpacked packages counted once) and of strata's whole
//! store (the `.deb`s, the unpacked packages and the tree).
//!
//! Last, the no-op rebuild the issue asks for: evaluation (`strata eval-config`) and no-op
//! `strata build` of `examples/configuration.nix` and of that configuration with the first 50
//! of the packages added, side by side, in the cache store (each built once, untimed, first).
//!
//! Needs `mmdebstrap` (installed by `scripts/setup --tests`); without it, says so and stops.
//! Must not: name the archive's host (it comes from the host's apt sources through strata).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use strata_builder::debian::archive::Archive;
use strata_builder::debian::digest::{component_of, DigestRecord};
use strata_builder::debian::lock::{sha256_hex, LockFile, LockedIndex};
use strata_lang::source::Span;
use strata_lang::{Evaluator, Value};
use strata_store::local::delete_tree;
use strata_store::{LocalStore, StoreDir};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
/// The package list: one name a line, `#` comments.
const LIST: &str = include_str!("userspace-100.txt");
/// How many of the list the no-op rebuild's configuration adds.
const HALF: usize = 50;

fn main() {
    if Command::new("mmdebstrap")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        println!("userspace: mmdebstrap is not installed (scripts/setup --tests). Skipped.");
        return;
    }
    let reps = common::reps();
    let names: Vec<&str> = LIST
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(names.len(), 100, "userspace-100.txt names 100 packages");
    let repo = common::repo();
    let example = repo.join("examples/configuration.nix");
    let lock_file = repo.join("examples/strata.lock");
    let lock = common::debian::read_lock(&lock_file);
    let data = common::target_dir().join("bench-data/userspace");
    let cache = data.join("cache");
    fs::create_dir_all(&data).unwrap();
    let tmp = tempfile::tempdir_in(&data).unwrap();

    // 1. The digest, the closure and its .debs, in the cache store.
    strata_ok(
        Command::new(STRATA)
            .arg("--store-root")
            .arg(&cache)
            .args(["lock", "fetch", "-f"])
            .arg(&lock_file)
            .env_remove("STRATA_DEBIAN_MIRROR"),
    );
    let digest = common::debian::digest_in_store(&cache, &lock);
    let records = common::debian::records(&digest);
    for n in &names {
        let r = records
            .get(*n)
            .unwrap_or_else(|| panic!("the digest has no package {n}"));
        assert!(r.broken.is_none(), "{n}: {:?}", r.broken);
        assert!(!r.essential, "{n} is Essential: the list names others");
        assert_eq!(r.component, "main", "{n} is not in main");
    }
    let essential: Vec<&str> = records
        .values()
        .filter(|r| r.essential)
        .map(|r| r.name.as_str())
        .collect();
    let roots: Vec<&str> = names.iter().chain(&essential).copied().collect();
    let closure = closure_of(&records, &roots);
    strata_ok(
        Command::new(STRATA)
            .arg("--store-root")
            .arg(&cache)
            .args(["lock", "fetch", "-f"])
            .arg(&lock_file)
            .args(&roots)
            .env_remove("STRATA_DEBIAN_MIRROR"),
    );
    let deb_bytes: u64 = closure.values().map(|r| r.size).sum();

    // 2. The mirror, and the lock with its digest beside it.
    let mirror = tmp.path().join("mirror");
    let copied = common::debian::copy_debs(&cache, closure.values().copied(), &mirror);
    assert_eq!(
        copied.len(),
        closure.len(),
        "every .deb of the closure cached"
    );
    write_indexes(&mirror, &lock, &closure);
    let mirror_url = common::debian::file_url(&mirror);
    let lock_copy = common::debian::lock_with_digest(&lock_file, &digest, &tmp.path().join("lock"));

    let config = tmp.path().join("userspace/configuration.nix");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(&config, userspace_configuration(&names)).unwrap();

    println!(
        "userspace: {} packages named, {} with their dependencies and Debian's essential set \
         ({} essential), {:.1} MiB of .debs, in a file:// mirror; {reps} run{}, best shown",
        names.len(),
        closure.len(),
        essential.len(),
        mib(deb_bytes),
        if reps == 1 { "" } else { "s" }
    );

    // 3.-5. The runs.
    let mut mm = Vec::new();
    let mut cold = Vec::new();
    let mut cold_eval = Vec::new();
    let mut warm = Vec::new();
    let mut mode = "unshare";
    let mut mm_size = 0;
    let mut mm_packages = Vec::new();
    let mut strata_sizes = (0, 0, 0);
    for i in 0..reps {
        let dir = tmp.path().join(format!("mmdebstrap-{i}"));
        sync();
        let start = Instant::now();
        let mut out = mmdebstrap(mode, &names, &lock.suite, &dir, &mirror, tmp.path());
        if !out.status.success() && mode == "unshare" && i == 0 {
            println!(
                "mmdebstrap --mode=unshare failed; using --mode=root:\n{}",
                tail(&out.stderr)
            );
            mode = "root";
            remove(&dir);
            sync();
            let again = Instant::now();
            out = mmdebstrap(mode, &names, &lock.suite, &dir, &mirror, tmp.path());
            mm.push(again.elapsed());
        } else {
            mm.push(start.elapsed());
        }
        assert!(
            out.status.success(),
            "mmdebstrap failed:\n{}",
            tail(&out.stderr)
        );
        mm_size = du(&dir);
        mm_packages = installed_packages(&dir);
        remove(&dir);

        let root = tmp.path().join(format!("strata-{i}"));
        sync();
        let (t_eval, t_all, sw) = strata_userspace(&root, &config, &lock_copy, &mirror_url);
        cold_eval.push(t_eval);
        cold.push(t_all);
        sync();
        let (_, t_warm, again) = strata_userspace(&root, &config, &lock_copy, &mirror_url);
        assert_eq!(again, sw, "the same tree again");
        warm.push(t_warm);
        let sw_real = root.join(sw.trim_start_matches('/'));
        strata_sizes = (
            du(&sw_real),
            du(&root.join("nix/store")),
            closure_nar_size(&root, &sw),
        );
        remove(&root);
    }

    let (mm_best, cold_best, warm_best) = (best(&mm), best(&cold), best(&warm));
    println!();
    println!(
        "| case ({} packages: the 100 named and their closure with the essential set) | time | vs mmdebstrap | goal |",
        closure.len()
    );
    println!("|---|---|---|---|");
    println!(
        "| mmdebstrap --mode={mode} --variant=essential --include=<the 100> ({} packages installed) | {} | 1.00x | |",
        mm_packages.len(),
        secs(mm_best)
    );
    println!(
        "| strata cold: evaluate, then `strata realise` system.sw in an empty store (evaluation {}) | {} | {:.2}x | <= 1.0x |",
        secs(best(&cold_eval)),
        secs(cold_best),
        ratio(cold_best, mm_best)
    );
    println!(
        "| strata warm: the same on the same store, everything valid | {} | {:.3}x | <= 0.1x |",
        secs(warm_best),
        ratio(warm_best, mm_best)
    );
    println!();
    println!("| tree | size (du) |");
    println!("|---|---|");
    println!("| mmdebstrap's directory | {:.1} MiB |", mib(mm_size));
    println!(
        "| strata's system.sw (hard links into the unpacked packages counted once) | {:.1} MiB |",
        mib(strata_sizes.0)
    );
    println!(
        "| strata's store after the build (.debs, unpacked packages, the tree) | {:.1} MiB |",
        mib(strata_sizes.1)
    );
    println!(
        "| strata's system.sw closure (sum of NAR sizes, hard links counted each time) | {:.1} MiB |",
        mib(strata_sizes.2)
    );
    let only_strata: Vec<&str> = closure
        .keys()
        .filter(|n| !mm_packages.iter().any(|m| m == *n))
        .copied()
        .collect();
    let only_mm: Vec<&str> = mm_packages
        .iter()
        .filter(|m| !closure.contains_key(m.as_str()))
        .map(String::as_str)
        .collect();
    println!();
    println!("packages only in strata's tree: {only_strata:?}; only in mmdebstrap's: {only_mm:?}");
    println!(
        "runs: mmdebstrap {:?}; strata cold {:?} (evaluation {:?}); strata warm {:?}",
        all(&mm),
        all(&cold),
        all(&cold_eval),
        all(&warm)
    );

    // The no-op rebuild of a configuration with 50 of the packages, beside the example's.
    let half = tmp.path().join("half/configuration.nix");
    fs::create_dir_all(half.parent().unwrap()).unwrap();
    fs::write(&half, half_configuration(&example, &names[..HALF])).unwrap();
    let rows = [
        ("examples/configuration.nix", example.as_path()),
        ("the example with 50 of the packages", half.as_path()),
    ];
    let mut table = String::new();
    for (label, file) in rows {
        // Built once, untimed: what the cache store lacks comes from the archive.
        strata_ok(
            Command::new(STRATA)
                .arg("--store-root")
                .arg(&cache)
                .args(["build", "--no-out-link", "-f"])
                .arg(file)
                .arg("--lock")
                .arg(&lock_copy)
                .env_remove("STRATA_DEBIAN_MIRROR"),
        );
        let mut evals = Vec::new();
        let mut noops = Vec::new();
        for _ in 0..reps {
            let start = Instant::now();
            strata_ok(
                Command::new(STRATA)
                    .arg("--store-root")
                    .arg(&cache)
                    .args(["eval-config", "-f"])
                    .arg(file)
                    .arg("--lock")
                    .arg(&lock_copy),
            );
            evals.push(start.elapsed());
            let start = Instant::now();
            strata_ok(
                Command::new(STRATA)
                    .arg("--store-root")
                    .arg(&cache)
                    .args(["build", "--no-out-link", "-f"])
                    .arg(file)
                    .arg("--lock")
                    .arg(&lock_copy)
                    .env_remove("STRATA_DEBIAN_MIRROR"),
            );
            noops.push(start.elapsed());
        }
        let _ = writeln!(
            table,
            "| {label} | {} | {} |",
            secs(best(&evals)),
            secs(best(&noops))
        );
    }
    println!();
    println!("| configuration | evaluation (`strata eval-config`) | no-op rebuild (`strata build`, all valid) |");
    println!("|---|---|---|");
    print!("{table}");
}

/// The closure of `roots` over the digest's chosen dependencies, by name.
fn closure_of<'a>(
    records: &'a BTreeMap<String, DigestRecord>,
    roots: &[&str],
) -> BTreeMap<&'a str, &'a DigestRecord> {
    let mut out: BTreeMap<&str, &DigestRecord> = BTreeMap::new();
    let mut todo: Vec<&str> = roots.to_vec();
    while let Some(n) = todo.pop() {
        if out.contains_key(n) {
            continue;
        }
        let (name, r) = records
            .get_key_value(n)
            .unwrap_or_else(|| panic!("the digest has no package {n}"));
        assert!(r.broken.is_none(), "{n}: {:?}", r.broken);
        todo.extend(r.depends.iter().map(String::as_str));
        out.insert(name.as_str(), r);
    }
    out
}

/// The mirror's indexes: per component of the closure, the original stanzas of exactly its
/// packages (as `Packages`, `.xz` and `.gz`), and a `Release` file naming them.
fn write_indexes(mirror: &Path, lock: &LockFile, closure: &BTreeMap<&str, &DigestRecord>) {
    let mut release_files: Vec<(String, String, u64)> = Vec::new();
    let mut components: Vec<&str> = Vec::new();
    for locked in &lock.indexes {
        let component = component_of(&locked.path).expect("a component in the lock's index");
        let wanted: BTreeMap<&str, &str> = closure
            .values()
            .filter(|r| r.component == component)
            .map(|r| (r.name.as_str(), r.filename.as_str()))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let text = pinned_index(lock, locked);
        let mut out = String::new();
        let mut found = 0;
        for stanza in text.split("\n\n") {
            let field = |key: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(key).map(str::trim))
            };
            let (Some(name), Some(filename)) = (field("Package:"), field("Filename:")) else {
                continue;
            };
            if wanted.get(name) == Some(&filename) {
                out.push_str(stanza.trim_end_matches('\n'));
                out.push_str("\n\n");
                found += 1;
            }
        }
        assert_eq!(
            found,
            wanted.len(),
            "{}: every package of the closure has its stanza",
            locked.path
        );
        let dir = mirror.join(locked.path.rsplit_once('/').unwrap().0);
        fs::create_dir_all(&dir).unwrap();
        let packages = dir.join("Packages");
        fs::write(&packages, &out).unwrap();
        run_ok(Command::new("xz").args(["-k", "-T1", "-6"]).arg(&packages));
        run_ok(Command::new("gzip").args(["-k", "-n", "-9"]).arg(&packages));
        let relative = locked
            .path
            .strip_prefix(&format!("dists/{}/", lock.suite))
            .expect("the lock's index is below dists/<suite>/");
        for ext in ["", ".xz", ".gz"] {
            let bytes = fs::read(dir.join(format!("Packages{ext}"))).unwrap();
            release_files.push((
                sha256_hex(&bytes),
                format!("{relative}{ext}"),
                bytes.len() as u64,
            ));
        }
        components.push(component);
    }
    let date = run_ok(Command::new("date").arg("-Ru").env("LC_ALL", "C"));
    let mut release = format!(
        "Origin: strata-bench\nLabel: strata-bench\nSuite: {suite}\nCodename: {suite}\n\
         Date: {date}\nArchitectures: {arch}\nComponents: {components}\n\
         Description: the packages of strata's userspace bench\nSHA256:\n",
        suite = lock.suite,
        date = String::from_utf8_lossy(&date.stdout).trim(),
        arch = lock.architecture,
        components = components.join(" ")
    );
    for (sha, path, size) in release_files {
        let _ = writeln!(release, " {sha} {size:>16} {path}");
    }
    fs::write(
        mirror.join(format!("dists/{}/Release", lock.suite)),
        release,
    )
    .unwrap();
}

/// The text of the index `locked`, whose sha256 the lock pins: the host's apt list of it when
/// one has that sha256, else fetched from the archive the host's apt sources name.
fn pinned_index(lock: &LockFile, locked: &LockedIndex) -> String {
    // apt names a list `<host and path, with _ for />_<index path, with _ for />`.
    let suffix = format!("_{}", locked.path.replace('/', "_"));
    if let Ok(entries) = fs::read_dir("/var/lib/apt/lists") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(ext) = name.rfind(&suffix).map(|at| &name[at + suffix.len()..]) else {
                continue;
            };
            let data = match ext {
                "" => fs::read(e.path()).ok(),
                ".lz4" | ".xz" | ".gz" | ".zst" => {
                    let tool = match ext {
                        ".lz4" => "lz4",
                        ".xz" => "xz",
                        ".gz" => "gzip",
                        _ => "zstd",
                    };
                    Command::new(tool)
                        .arg("-dc")
                        .arg(e.path())
                        .stderr(Stdio::null())
                        .output()
                        .ok()
                        .filter(|o| o.status.success())
                        .map(|o| o.stdout)
                }
                _ => None,
            };
            if let Some(data) = data.filter(|d| sha256_hex(d) == locked.sha256) {
                return String::from_utf8(data).expect("an index is UTF-8");
            }
        }
    }
    let archive = Archive::configure(None, Some(&lock.suite), &lock.architecture, Path::new("/"))
        .expect("the archive of the host's apt sources");
    let index = archive
        .fetch_index(&locked.path)
        .expect("fetch the pinned index")
        .unwrap_or_else(|| panic!("the archive has no {}", locked.path));
    assert_eq!(
        index.sha256, locked.sha256,
        "{}: the archive no longer has the index the lock pins",
        locked.path
    );
    String::from_utf8(index.data).expect("an index is UTF-8")
}

/// Runs mmdebstrap with only the mirror, in a clean environment.
fn mmdebstrap(
    mode: &str,
    names: &[&str],
    suite: &str,
    dir: &Path,
    mirror: &Path,
    tmp: &Path,
) -> Output {
    Command::new("mmdebstrap")
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", tmp)
        .env("TMPDIR", tmp)
        .env("LC_ALL", "C.UTF-8")
        .arg(format!("--mode={mode}"))
        .arg("--variant=essential")
        .arg("--quiet")
        // The `.deb`s of a file:// mirror must be visible inside the chroot: mmdebstrap's own
        // hook bind-mounts the mirror there (read-only) and unmounts it afterwards.
        .arg("--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount")
        .arg(format!("--include={}", names.join(",")))
        .arg(suite)
        .arg(dir)
        .arg(format!(
            "deb [trusted=yes] file://{} {suite} main",
            mirror.display()
        ))
        .output()
        .expect("run mmdebstrap")
}

/// The configuration of the 100 packages (a bootable machine's few settings besides).
fn userspace_configuration(names: &[&str]) -> String {
    let list: String = names.iter().map(|n| format!(" \"{n}\"")).collect();
    r#"# The userspace bench's configuration: its userspace is the 100 packages.
{ pkgs, ... }:
{
  networking.hostName = "bench";
  boot.loader.grub.device = "/dev/vda";
  fileSystems."/" = { device = "/dev/vda1"; fsType = "ext4"; };
  # glibc's own locale only: mmdebstrap compiles none either.
  i18n.defaultLocale = "C.UTF-8";
  i18n.supportedLocales = [ "C.UTF-8/UTF-8" ];
  environment.systemPackages = map (n: pkgs.${n}) [@LIST@ ];
  # moreutils and parallel both ship parallel(1); Debian's parallel diverts moreutils' file
  # away, so parallel's wins here too.
  environment.debian.collisions = {
    "/usr/bin/parallel" = "parallel";
    "/usr/share/man/man1/parallel.1.gz" = "parallel";
  };
  system.stateVersion = "24.11";
}
"#
    .replace("@LIST@", &list)
}

/// The example with `names` added to its packages.
fn half_configuration(example: &Path, names: &[&str]) -> String {
    let list: String = names.iter().map(|n| format!(" \"{n}\"")).collect();
    r#"{ pkgs, ... }:
{
  imports = [ "@EXAMPLE@" ];
  environment.systemPackages = map (n: pkgs.${n}) [@LIST@ ];
}
"#
    .replace("@EXAMPLE@", &example.display().to_string())
    .replace("@LIST@", &list)
}

/// Evaluates `config`'s `system.sw` in the store at `root` (the digest from beside
/// `lock_file`) and realises it with `strata realise` from `mirror`; returns the evaluation's
/// time, the whole time and the tree's store path.
fn strata_userspace(
    root: &Path,
    config: &Path,
    lock_file: &Path,
    mirror: &str,
) -> (Duration, Duration, String) {
    let start = Instant::now();
    let drv = eval_sw(root, config, lock_file);
    let evaluated = start.elapsed();
    let out = strata_ok(
        Command::new(STRATA)
            .arg("--store-root")
            .arg(root)
            .arg("realise")
            .arg(&drv)
            .env("STRATA_DEBIAN_MIRROR", mirror),
    );
    let took = start.elapsed();
    let sw = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(sw.ends_with("-system-path"), "realise printed {sw:?}");
    (evaluated, took, sw)
}

/// `(import <modules>/eval-config.nix { configuration; modulesDir; pkgs; }).system.sw.drvPath`,
/// with `pkgs` the lock's package set, its `.drv` files written into the store at `root`.
fn eval_sw(root: &Path, config: &Path, lock_file: &Path) -> String {
    let modules = common::repo().join("modules");
    let result = strata_builder::eval_thread::run("eval", || -> Result<String, String> {
        let lock: LockFile = common::debian::read_lock(lock_file);
        let mut store = LocalStore::open(root, StoreDir::default()).map_err(|e| e.to_string())?;
        let digest = strata_builder::system::load_digest(&mut store, &lock, Some(lock_file), None)
            .map_err(|e| e.to_string())?;
        let io = Rc::new(strata_builder::eval_io::StoreIo::new(store));
        let mut ev = Evaluator::new(strata_builder::eval_thread::eval_config(), io);
        ev.reset_stack_base();
        let span = Span {
            file: 0,
            start: 0,
            end: 0,
        };
        let run = |ev: &mut Evaluator| -> Result<Value, strata_lang::EvalError> {
            let pkgs = strata_builder::pkgs::eval_pkgs(ev, &modules, &lock, &digest)?;
            let whole = strata_builder::config::eval_config_set_with(
                ev,
                &modules,
                config,
                &[],
                Some(pkgs),
            )?;
            let select = ev.eval_string("whole: whole.system.sw.drvPath")?;
            let drv = ev.call(&select, whole, span)?;
            ev.force(&drv, span)
        };
        match run(&mut ev) {
            Ok(Value::String(s)) => Ok(s.to_str_lossy().into_owned()),
            Ok(_) => Err("system.sw.drvPath is not a string".into()),
            Err(e) => Err(e.render(&ev.sources)),
        }
    })
    .expect("the evaluation thread");
    result.unwrap_or_else(|e| panic!("evaluating system.sw: {e}"))
}

/// The sum of the NAR sizes of `path`'s closure.
fn closure_nar_size(root: &Path, path: &str) -> u64 {
    let out = strata_ok(Command::new(STRATA).arg("--store-root").arg(root).args([
        "store",
        "path-info",
        "-r",
        "--json",
        path,
    ]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p["narSize"].as_u64().unwrap())
        .sum()
}

/// The names of the packages dpkg has installed in the tree at `dir`.
fn installed_packages(dir: &Path) -> Vec<String> {
    let status = fs::read_to_string(dir.join("var/lib/dpkg/status")).unwrap_or_default();
    status
        .split("\n\n")
        .filter(|s| s.lines().any(|l| l == "Status: install ok installed"))
        .filter_map(|s| s.lines().find_map(|l| l.strip_prefix("Package: ")))
        .map(str::to_owned)
        .collect()
}

/// `du -s` of `path` in bytes (hard links counted once).
fn du(path: &Path) -> u64 {
    let out = run_ok(Command::new("du").args(["-s", "-B1"]).arg(path));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("du's number")
}

fn strata_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run strata");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        tail(&out.stderr)
    );
    out
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        tail(&out.stderr)
    );
    out
}

/// The last lines of a command's error output.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn remove(path: &Path) {
    if path.exists() {
        delete_tree(path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
    }
}

fn sync() {
    let _ = Command::new("sync").status();
}

fn best(d: &[Duration]) -> Duration {
    d.iter().copied().min().unwrap_or_default()
}

fn all(d: &[Duration]) -> Vec<String> {
    d.iter().map(|d| secs(*d)).collect()
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn mib(n: u64) -> f64 {
    n as f64 / (1 << 20) as f64
}
