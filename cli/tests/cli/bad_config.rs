//! The corpus of bad configurations in `cli/tests/bad-configs`: each `NAME.nix` is a machine
//! configuration that must be refused at evaluation, and `NAME.err` holds lines that must each
//! appear in the error (the option and the value it names).
//!
//! Both `strata eval-config` and `strata build` run every case: exit status 1, every expected
//! line in the error, no panic, no result link, and the store's file listing as it was. The
//! cases fail before any package is fetched; `build` needs the example's lock and its digest,
//! which is put into the store (from the archive the host's apt sources name) before the
//! listing is taken.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use super::{run, strata, strata_store, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The corpus: each case's configuration and its expected lines.
fn cases() -> Vec<(PathBuf, Vec<String>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-configs");
    let mut v: Vec<(PathBuf, Vec<String>)> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .map(|p| {
            let err = fs::read_to_string(p.with_extension("err"))
                .unwrap_or_else(|e| panic!("{}: no .err beside it: {e}", p.display()));
            let lines = err
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>();
            assert!(!lines.is_empty(), "{}: empty .err", p.display());
            (p, lines)
        })
        .collect();
    v.sort();
    v
}

/// Every file and directory below `root` with its kind, size and modification time, but for
/// the database's own files (SQLite may touch them when the store is opened for reading).
///
/// `build` evaluates the configuration with the package set, whose packages are derivations;
/// their `.drv` files reach the store only once the configuration has evaluated and its
/// assertions hold, so a refused build leaves every store path as it was.
fn listing(root: &Path) -> BTreeMap<PathBuf, (u32, u64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            if rel.starts_with("nix/var/nix/db") {
                continue;
            }
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            let size = if m.is_dir() { 0 } else { m.len() };
            let mtime = if m.is_dir() { 0 } else { m.mtime() };
            out.insert(rel, (m.mode(), size, mtime));
        }
    }
    out
}

/// Checks one run's outcome against the case's expected lines; returns the failure, if any.
fn check(what: &str, case: &Path, want: &[String], o: &Output) -> Option<String> {
    let name = case.file_name().unwrap().to_string_lossy();
    if o.code != Some(1) {
        return Some(format!(
            "{what} {name}: exit {:?}, wanted 1\n{}",
            o.code, o.stderr
        ));
    }
    if o.stderr.contains("panicked") {
        return Some(format!("{what} {name}: panicked\n{}", o.stderr));
    }
    let missing: Vec<&String> = want.iter().filter(|l| !o.stderr.contains(*l)).collect();
    (!missing.is_empty())
        .then(|| format!("{what} {name}: {missing:?} not in the error\n{}", o.stderr))
}

#[test]
fn bad_configs_are_refused_by_eval_config() {
    let cases = cases();
    assert!(cases.len() >= 40, "the corpus lost cases: {}", cases.len());
    let mut failures = Vec::new();
    for (case, want) in &cases {
        let mut c = crate::eval_config();
        c.arg("-f").arg(case);
        let o = run(&mut c, None);
        failures.extend(check("eval-config", case, want, &o));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn bad_configs_are_refused_by_build_before_anything_changes() {
    let cases = cases();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    // A store with one path in it, so that "unchanged" means something.
    let o = run(
        &mut strata_store(&root, ["add-text", "marker"]),
        Some(b"a path that must stay\n"),
    )
    .ok();
    let marker = o.line();
    let lock = repo().join("examples/strata.lock");
    run(
        strata()
            .arg("--store-root")
            .arg(&root)
            .args(["lock", "fetch", "-f"])
            .arg(&lock),
        None,
    )
    .ok();
    let before = listing(&root);
    assert!(
        before
            .keys()
            .any(|p| marker.ends_with(&*p.to_string_lossy())),
        "{marker} not in the store"
    );
    let result = work.path().join("result");
    let mut failures = Vec::new();
    for (case, want) in &cases {
        let mut c = strata();
        c.arg("--store-root")
            .arg(&root)
            .arg("build")
            .arg("-f")
            .arg(case)
            .arg("--lock")
            .arg(&lock)
            .arg("-o")
            .arg(&result);
        c.env_remove("STRATA_DEBIAN_MIRROR");
        let o = run(&mut c, None);
        failures.extend(check("build", case, want, &o));
        if fs::symlink_metadata(&result).is_ok() {
            failures.push(format!("build {}: left a result link", case.display()));
            let _ = fs::remove_file(&result);
        }
        let after = listing(&root);
        if after != before {
            failures.push(format!(
                "build {}: the store changed: {:?}",
                case.display(),
                after
                    .iter()
                    .filter(|(k, v)| before.get(*k) != Some(v))
                    .map(|(k, _)| k)
                    .chain(before.keys().filter(|k| !after.contains_key(*k)))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
