//! Agreement with Nix 2.8 on generated trees, texts and export streams.
//!
//! Nix runs with chroot stores (`--store DIR`), so nothing here touches the real /nix. Every
//! comparison ignores Nix's stderr, where it may print warnings.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{symlink, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use super::{assert_bytes_eq, run, strata, strata_store, Rng};

/// The Nix installation the tests compare against, with a private HOME.
pub(super) struct Nix {
    home: TempDir,
}

impl Nix {
    /// Nix, or `None` when the caller asked to skip the Nix tests. Without Nix and without
    /// that request, the test fails: silently passing would hide that nothing was compared.
    pub(super) fn get(test: &str) -> Option<Nix> {
        if std::env::var_os("STRATA_SKIP_NIX_TESTS").is_some_and(|v| v == "1") {
            eprintln!("skipping {test}: STRATA_SKIP_NIX_TESTS=1");
            return None;
        }
        let found = Command::new("nix-store")
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "{test} compares strata with Nix, but `nix-store` is not on PATH (or does not run). \
             Install Debian's nix-bin (`apt-get install nix-bin`, Nix 2.8), or set \
             STRATA_SKIP_NIX_TESTS=1 to skip the Nix compatibility tests."
        );
        Some(Nix {
            home: tempfile::tempdir().unwrap(),
        })
    }

    pub(super) fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new(prog);
        for v in [
            "NIX_REMOTE",
            "NIX_STORE_DIR",
            "NIX_STATE_DIR",
            "NIX_LOG_DIR",
            "NIX_CONF_DIR",
            "NIX_USER_CONF_FILES",
            "NIX_PATH",
        ] {
            c.env_remove(v);
        }
        // Builds never happen here, but an unusable build-users group would still be an error
        // for root on some set-ups; an empty group makes Nix skip the check.
        c.env("NIX_CONFIG", "build-users-group =\nsubstituters =\n")
            .env("HOME", self.home.path())
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_DATA_HOME", self.home.path().join("data"));
        c
    }

    pub(super) fn nix_store(&self, args: &[&OsStr]) -> Command {
        let mut c = self.cmd("nix-store");
        c.args(args);
        c
    }

    /// `nix-store --store ROOT ARGS...`
    pub(super) fn nix_store_at(&self, root: &Path, args: &[&OsStr]) -> Command {
        let mut c = self.cmd("nix-store");
        c.arg("--store").arg(root).args(args);
        c
    }

    /// `nix --extra-experimental-features nix-command ARGS...`
    pub(super) fn nix(&self, args: &[&OsStr]) -> Command {
        let mut c = self.cmd("nix");
        c.args(["--extra-experimental-features", "nix-command"])
            .args(args);
        c
    }

    /// Evaluates `expr` (which must give a store path) with `builtins.toFile` writing into the
    /// chroot store at `root`, and returns the path.
    pub(super) fn eval_store_path(&self, root: &Path, expr: &str) -> String {
        let mut c = self.cmd("nix-instantiate");
        c.arg("--store")
            .arg(root)
            .args(["--eval", "--read-write-mode", "-E", expr]);
        let out = run(&mut c, None).ok().line();
        let p = out
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or_else(|| panic!("nix-instantiate printed {out:?}, not a quoted string"));
        assert!(p.starts_with("/nix/store/"), "not a store path: {p}");
        p.to_owned()
    }

    /// `nix path-info --json` of one path in the store at `root`.
    pub(super) fn path_info(&self, root: &Path, path: &str) -> Value {
        let out = run(
            &mut self.nix(&[
                "path-info".as_ref(),
                "--store".as_ref(),
                root.as_os_str(),
                "--json".as_ref(),
                path.as_ref(),
            ]),
            None,
        )
        .ok();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or_else(|| panic!("nix path-info printed {v}"))
    }

    /// `nix-store --store ROOT --verify --check-contents` must succeed. On a strata store this
    /// proves Nix accepts strata's database and files.
    pub(super) fn verify(&self, root: &Path) {
        let out = run(
            &mut self.nix_store_at(root, &["--verify".as_ref(), "--check-contents".as_ref()]),
            None,
        );
        assert!(
            out.success() && !out.stderr.contains("was modified") && !out.stderr.contains("error"),
            "nix-store --verify --check-contents on {} failed ({:?}):\n{}",
            root.display(),
            out.code,
            out.stderr
        );
    }

    pub(super) fn references(&self, root: &Path, path: &str) -> BTreeSet<String> {
        run(
            &mut self.nix_store_at(
                root,
                &["-q".as_ref(), "--references".as_ref(), path.as_ref()],
            ),
            None,
        )
        .ok()
        .lines()
        .into_iter()
        .collect()
    }
}

pub(super) fn os(s: &str) -> &OsStr {
    s.as_ref()
}

/// `strata store path-info --json` of one path.
pub(super) fn strata_info(root: &Path, path: &str) -> Value {
    let out = run(&mut strata_store(root, ["path-info", "--json", path]), None).ok();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| panic!("strata path-info printed {v}"))
}

/// The fields both tools must agree on.
pub(super) fn comparable(v: &Value) -> Value {
    let mut refs: Vec<String> = v["references"]
        .as_array()
        .unwrap_or_else(|| panic!("no references in {v}"))
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    refs.sort();
    serde_json::json!({
        "path": v["path"],
        "narHash": v["narHash"],
        "narSize": v["narSize"],
        "references": refs,
    })
}

pub(super) fn strata_verify_clean(root: &Path, expect_checked: usize) {
    let out = run(&mut strata_store(root, ["verify", "--json"]), None).ok();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["problems"], serde_json::json!([]), "strata verify: {v}");
    assert_eq!(
        v["checked"],
        serde_json::json!(expect_checked),
        "strata verify: {v}"
    );
}

pub(super) fn valid_count(root: &Path) -> usize {
    fs::read_dir(root.join("nix/store"))
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            !n.as_bytes().starts_with(b".")
        })
        .count()
}

// ---------------------------------------------------------------------------------------------
// Generated trees

pub(super) fn write_file(p: &Path, contents: &[u8], mode: u32) {
    fs::write(p, contents).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

pub(super) fn mkdir(p: &Path) {
    fs::create_dir_all(p).unwrap();
}

/// Every kind of node and the executable-bit corner cases.
pub(super) fn tree_mixed(base: &Path) -> PathBuf {
    let t = base.join("mixed");
    mkdir(&t);
    write_file(&t.join("empty"), b"", 0o644);
    write_file(&t.join("hello"), b"hello\n", 0o644);
    write_file(&t.join("run.sh"), b"#!/bin/sh\necho hi\n", 0o755);
    write_file(&t.join("user-x-only"), b"x", 0o700);
    // Execute bits for group and others only: a NAR records the owner's bit alone.
    write_file(&t.join("group-other-x"), b"y", 0o655);
    write_file(&t.join("read-only"), b"ro", 0o444);
    mkdir(&t.join("empty-dir"));
    mkdir(&t.join("sub/inner/empty"));
    for n in 0..=17usize {
        // Every padding length.
        write_file(
            &t.join(format!("sub/inner/len-{n}")),
            &b"abcdefghijklmnopqrstuvwxyz"[..n],
            0o644,
        );
    }
    symlink("hello", t.join("rel-link")).unwrap();
    symlink("../hello", t.join("sub/up-link")).unwrap();
    symlink("/etc/hostname", t.join("abs-link")).unwrap();
    symlink("does/not/exist", t.join("dangling-rel")).unwrap();
    symlink("/nonexistent/strata-test/x", t.join("dangling-abs")).unwrap();
    symlink("empty-dir", t.join("dir-link")).unwrap();
    symlink(".", t.join("self-link")).unwrap();
    t
}

/// 100 nested directories, with a file at every level.
pub(super) fn tree_deep(base: &Path) -> PathBuf {
    let t = base.join("deep");
    let mut d = t.clone();
    for i in 0..100 {
        d = d.join(format!("d{i}"));
        mkdir(&d);
        write_file(&d.join("f"), format!("level {i}\n").as_bytes(), 0o644);
    }
    symlink("../../../d97", d.join("back")).unwrap();
    t
}

/// Names outside ASCII, not UTF-8 at all, and names whose byte order differs from a locale's
/// collation order.
pub(super) fn tree_names(base: &Path) -> PathBuf {
    let t = base.join("names");
    mkdir(&t);
    for n in [
        "B",
        "a",
        "_",
        "Z",
        "A",
        "b",
        "z",
        "0",
        "10",
        "9",
        "a.b",
        "a-b",
        "a_b",
        "aB",
        "Ab",
        "~",
        "é",
        "e",
        "f",
        "with space",
        "tab\there",
        "new\nline",
        "héllo",
        "Ünïcödé",
    ] {
        write_file(&t.join(n), n.as_bytes(), 0o644);
    }
    mkdir(&t.join("日本"));
    write_file(&t.join("日本/テスト"), "内容\n".as_bytes(), 0o755);
    symlink("../héllo", t.join("日本/リンク")).unwrap();
    symlink("日本/テスト", t.join("link-to-日本")).unwrap();
    // Not UTF-8: Latin-1 bytes.
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9-\xff");
    write_file(&t.join(latin1), b"latin-1 name\n", 0o644);
    // The longest name Linux allows.
    write_file(&t.join("n".repeat(255)), b"long name\n", 0o644);
    t
}

/// 20 MB of deterministic pseudo-random data, and an executable that is not a multiple of 8.
pub(super) fn tree_large(base: &Path) -> PathBuf {
    let t = base.join("large");
    mkdir(&t);
    let mut rng = Rng::new(0x5eed_f00d_57a7);
    write_file(&t.join("random.bin"), &rng.bytes(20 << 20), 0o644);
    write_file(&t.join("exec.bin"), &rng.bytes((1 << 20) + 5), 0o755);
    t
}

// ---------------------------------------------------------------------------------------------
// The per-tree comparison

/// Regular files under `root` (or `root` itself), at most `max` of them.
/// Every node under `root` with its kind, permission bits, mtime and link target.
pub(super) fn physical_listing(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let md = fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_path_buf();
        let desc = if md.is_symlink() {
            format!(
                "symlink {:?} mtime {}",
                fs::read_link(&p).unwrap(),
                md.mtime()
            )
        } else {
            let kind = if md.is_dir() { "dir" } else { "file" };
            format!("{kind} {:o} mtime {}", md.mode() & 0o7777, md.mtime())
        };
        out.insert(rel, desc);
        if md.is_dir() {
            todo.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    out
}

pub(super) fn regular_files(root: &Path, max: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let md = fs::symlink_metadata(&p).unwrap();
        if md.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            todo.extend(entries);
        } else if md.is_file() {
            out.push(p);
            if out.len() >= max {
                break;
            }
        }
    }
    out
}

pub(super) fn strata_hash(kind: &str, path: &Path, extra: &[&str]) -> String {
    let mut c = strata();
    c.args(["hash", kind]).args(extra).arg(path);
    run(&mut c, None).ok().line()
}

pub(super) fn nix_hash(nix: &Nix, path: &Path, extra: &[&str]) -> String {
    let mut c = nix.cmd("nix-hash");
    c.args(extra).arg(path);
    run(&mut c, None).ok().line()
}

/// Everything strata and Nix must agree on for one tree.
pub(super) fn check_tree(test: &str, make: fn(&Path) -> PathBuf) {
    let Some(nix) = Nix::get(test) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    mkdir(&src);
    let tree = make(&src);

    // The archive itself.
    let nar = run(&mut nix.nix_store(&[os("--dump"), tree.as_os_str()]), None)
        .ok()
        .stdout;
    let ours = run(strata().args(["store", "dump"]).arg(&tree), None)
        .ok()
        .stdout;
    assert_bytes_eq(
        &format!("{test}: strata store dump vs nix-store --dump"),
        &ours,
        &nar,
    );

    // NAR hashes in every algorithm and format.
    for algo in ["sha256", "sha1", "sha512", "md5"] {
        let t = ["--type", algo];
        assert_eq!(
            strata_hash("path", &tree, &["--type", algo, "--base16"]),
            nix_hash(&nix, &tree, &t),
            "{test}: hash path --type {algo} --base16"
        );
        assert_eq!(
            strata_hash("path", &tree, &["--type", algo, "--base32"]),
            nix_hash(&nix, &tree, &["--type", algo, "--base32"]),
            "{test}: hash path --type {algo} --base32"
        );
        assert_eq!(
            strata_hash("path", &tree, &["--type", algo]),
            run(
                &mut nix.nix(&[
                    os("hash"),
                    os("path"),
                    os("--type"),
                    os(algo),
                    tree.as_os_str()
                ]),
                None
            )
            .ok()
            .line(),
            "{test}: hash path --type {algo} (SRI) vs nix hash path"
        );
    }
    assert_eq!(
        strata_hash("path", &tree, &[]),
        run(
            &mut nix.nix(&[os("hash"), os("path"), tree.as_os_str()]),
            None
        )
        .ok()
        .line(),
        "{test}: default hash path output vs nix hash path"
    );

    // Flat hashes of the files in it.
    for f in regular_files(&tree, 12) {
        assert_eq!(
            strata_hash("file", &f, &["--base16"]),
            nix_hash(&nix, &f, &["--flat", "--type", "sha256"]),
            "{test}: hash file {}",
            f.display()
        );
        assert_eq!(
            strata_hash("file", &f, &["--type", "sha1", "--base32"]),
            nix_hash(&nix, &f, &["--flat", "--type", "sha1", "--base32"]),
            "{test}: hash file --type sha1 {}",
            f.display()
        );
        assert_eq!(
            strata_hash("file", &f, &["--type", "sha512"]),
            run(
                &mut nix.nix(&[
                    os("hash"),
                    os("file"),
                    os("--type"),
                    os("sha512"),
                    f.as_os_str()
                ]),
                None
            )
            .ok()
            .line(),
            "{test}: hash file --type sha512 (SRI) {}",
            f.display()
        );
    }

    // Adding it to a store gives the same path, with the same metadata.
    let r1 = tmp.path().join("strata-root");
    let r2 = tmp.path().join("nix-root");
    let mut add = strata_store(&r1, ["add"]);
    add.arg(&tree);
    let ours = run(&mut add, None).ok().line();
    let theirs = run(
        &mut nix.nix_store_at(&r2, &[os("--add"), tree.as_os_str()]),
        None,
    )
    .ok()
    .line();
    assert_eq!(ours, theirs, "{test}: strata store add vs nix-store --add");
    let si = strata_info(&r1, &ours);
    let ni = nix.path_info(&r2, &theirs);
    assert_eq!(comparable(&si), comparable(&ni), "{test}: path-info");
    assert_eq!(si["ca"], ni["ca"], "{test}: content address");
    assert_eq!(
        si["narSize"],
        serde_json::json!(nar.len()),
        "{test}: narSize"
    );
    // The copy in the store has the same archive as the original.
    let base = ours.strip_prefix("/nix/store/").unwrap();
    let stored = run(
        strata()
            .args(["store", "dump"])
            .arg(r1.join("nix/store").join(base)),
        None,
    )
    .ok()
    .stdout;
    assert_bytes_eq(&format!("{test}: dump of the stored copy"), &stored, &nar);
    // Both stores hold the copy with the same canonical metadata (modes, mtime 1).
    assert_eq!(
        physical_listing(&r1.join("nix/store").join(base)),
        physical_listing(&r2.join("nix/store").join(base)),
        "{test}: the stored copies differ in metadata"
    );
    // Nix reads strata's database row as it reads its own.
    let ni1 = nix.path_info(&r1, &ours);
    assert_eq!(
        comparable(&ni1),
        comparable(&ni),
        "{test}: nix path-info on strata's store"
    );
    assert_eq!(
        ni1["ca"], ni["ca"],
        "{test}: nix path-info ca on strata's store"
    );
    // Adding again changes nothing.
    let mut again = strata_store(&r1, ["add"]);
    again.arg(&tree);
    assert_eq!(
        run(&mut again, None).ok().line(),
        ours,
        "{test}: second add"
    );

    // Restoring Nix's archive with strata recreates the tree exactly.
    let restored = tmp.path().join("restored-by-strata");
    run(
        strata().args(["store", "restore"]).arg(&restored),
        Some(&nar),
    )
    .ok();
    let back = run(
        &mut nix.nix_store(&[os("--dump"), restored.as_os_str()]),
        None,
    )
    .ok()
    .stdout;
    assert_bytes_eq(
        &format!("{test}: nix-store --dump of strata's restore"),
        &back,
        &nar,
    );
    // And the other way round: Nix restores what strata dumped.
    let restored = tmp.path().join("restored-by-nix");
    run(
        &mut nix.nix_store(&[os("--restore"), restored.as_os_str()]),
        Some(&nar),
    )
    .ok();
    let back = run(strata().args(["store", "dump"]).arg(&restored), None)
        .ok()
        .stdout;
    assert_bytes_eq(
        &format!("{test}: strata store dump of Nix's restore"),
        &back,
        &nar,
    );

    // Both tools accept the strata store as intact.
    strata_verify_clean(&r1, 1);
    nix.verify(&r1);
}

/// A temporary directory with a store root for strata and one for Nix in it.
pub(super) fn roots() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let strata = tmp.path().join("strata-root");
    let nix = tmp.path().join("nix-root");
    (tmp, strata, nix)
}

#[test]
pub(super) fn tree_empty_file() {
    check_tree("tree_empty_file", |base| {
        let p = base.join("empty-file");
        write_file(&p, b"", 0o644);
        p
    });
}

#[test]
pub(super) fn tree_empty_dir() {
    check_tree("tree_empty_dir", |base| {
        let p = base.join("empty-dir");
        mkdir(&p);
        p
    });
}

#[test]
pub(super) fn tree_single_file() {
    check_tree("tree_single_file", |base| {
        let p = base.join("single-file.txt");
        write_file(&p, b"just one file\n", 0o644);
        p
    });
}

#[test]
pub(super) fn tree_single_executable() {
    check_tree("tree_single_executable", |base| {
        let p = base.join("single-exec");
        write_file(&p, b"#!/bin/sh\nexit 0\n", 0o755);
        p
    });
}

#[test]
pub(super) fn tree_single_symlink() {
    check_tree("tree_single_symlink", |base| {
        write_file(&base.join("target"), b"target\n", 0o644);
        let p = base.join("single-link");
        symlink("target", &p).unwrap();
        p
    });
}

#[test]
pub(super) fn tree_single_dangling_absolute_symlink() {
    check_tree("tree_single_dangling_absolute_symlink", |base| {
        let p = base.join("dangling-link");
        symlink("/nonexistent/strata/target", &p).unwrap();
        p
    });
}

#[test]
pub(super) fn tree_mixed_kinds() {
    check_tree("tree_mixed_kinds", tree_mixed);
}

#[test]
pub(super) fn tree_deep_nesting() {
    check_tree("tree_deep_nesting", tree_deep);
}

#[test]
pub(super) fn tree_unusual_names() {
    check_tree("tree_unusual_names", tree_names);
}

#[test]
pub(super) fn tree_large_files() {
    check_tree("tree_large_files", tree_large);
}
