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

use super::{assert_bytes_eq, run, strata, strata_store, Output, Rng};

/// The Nix installation the tests compare against, with a private HOME.
struct Nix {
    home: TempDir,
}

impl Nix {
    /// Nix, or `None` when the caller asked to skip the Nix tests. Without Nix and without
    /// that request, the test fails: silently passing would hide that nothing was compared.
    fn get(test: &str) -> Option<Nix> {
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

    fn cmd(&self, prog: &str) -> Command {
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

    fn nix_store(&self, args: &[&OsStr]) -> Command {
        let mut c = self.cmd("nix-store");
        c.args(args);
        c
    }

    /// `nix-store --store ROOT ARGS...`
    fn nix_store_at(&self, root: &Path, args: &[&OsStr]) -> Command {
        let mut c = self.cmd("nix-store");
        c.arg("--store").arg(root).args(args);
        c
    }

    /// `nix --extra-experimental-features nix-command ARGS...`
    fn nix(&self, args: &[&OsStr]) -> Command {
        let mut c = self.cmd("nix");
        c.args(["--extra-experimental-features", "nix-command"])
            .args(args);
        c
    }

    /// Evaluates `expr` (which must give a store path) with `builtins.toFile` writing into the
    /// chroot store at `root`, and returns the path.
    fn eval_store_path(&self, root: &Path, expr: &str) -> String {
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
    fn path_info(&self, root: &Path, path: &str) -> Value {
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
    fn verify(&self, root: &Path) {
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

    fn references(&self, root: &Path, path: &str) -> BTreeSet<String> {
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

fn os(s: &str) -> &OsStr {
    s.as_ref()
}

/// `strata store path-info --json` of one path.
fn strata_info(root: &Path, path: &str) -> Value {
    let out = run(&mut strata_store(root, ["path-info", "--json", path]), None).ok();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| panic!("strata path-info printed {v}"))
}

/// The fields both tools must agree on.
fn comparable(v: &Value) -> Value {
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

fn strata_verify_clean(root: &Path, expect_checked: usize) {
    let out = run(&mut strata_store(root, ["verify", "--json"]), None).ok();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["problems"], serde_json::json!([]), "strata verify: {v}");
    assert_eq!(
        v["checked"],
        serde_json::json!(expect_checked),
        "strata verify: {v}"
    );
}

fn valid_count(root: &Path) -> usize {
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

fn write_file(p: &Path, contents: &[u8], mode: u32) {
    fs::write(p, contents).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(p: &Path) {
    fs::create_dir_all(p).unwrap();
}

/// Every kind of node and the executable-bit corner cases.
fn tree_mixed(base: &Path) -> PathBuf {
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
fn tree_deep(base: &Path) -> PathBuf {
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
fn tree_names(base: &Path) -> PathBuf {
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
fn tree_large(base: &Path) -> PathBuf {
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
fn physical_listing(root: &Path) -> BTreeMap<PathBuf, String> {
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

fn regular_files(root: &Path, max: usize) -> Vec<PathBuf> {
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

fn strata_hash(kind: &str, path: &Path, extra: &[&str]) -> String {
    let mut c = strata();
    c.args(["hash", kind]).args(extra).arg(path);
    run(&mut c, None).ok().line()
}

fn nix_hash(nix: &Nix, path: &Path, extra: &[&str]) -> String {
    let mut c = nix.cmd("nix-hash");
    c.args(extra).arg(path);
    run(&mut c, None).ok().line()
}

/// Everything strata and Nix must agree on for one tree.
fn check_tree(test: &str, make: fn(&Path) -> PathBuf) {
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
fn roots() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let strata = tmp.path().join("strata-root");
    let nix = tmp.path().join("nix-root");
    (tmp, strata, nix)
}

#[test]
fn tree_empty_file() {
    check_tree("tree_empty_file", |base| {
        let p = base.join("empty-file");
        write_file(&p, b"", 0o644);
        p
    });
}

#[test]
fn tree_empty_dir() {
    check_tree("tree_empty_dir", |base| {
        let p = base.join("empty-dir");
        mkdir(&p);
        p
    });
}

#[test]
fn tree_single_file() {
    check_tree("tree_single_file", |base| {
        let p = base.join("single-file.txt");
        write_file(&p, b"just one file\n", 0o644);
        p
    });
}

#[test]
fn tree_single_executable() {
    check_tree("tree_single_executable", |base| {
        let p = base.join("single-exec");
        write_file(&p, b"#!/bin/sh\nexit 0\n", 0o755);
        p
    });
}

#[test]
fn tree_single_symlink() {
    check_tree("tree_single_symlink", |base| {
        write_file(&base.join("target"), b"target\n", 0o644);
        let p = base.join("single-link");
        symlink("target", &p).unwrap();
        p
    });
}

#[test]
fn tree_single_dangling_absolute_symlink() {
    check_tree("tree_single_dangling_absolute_symlink", |base| {
        let p = base.join("dangling-link");
        symlink("/nonexistent/strata/target", &p).unwrap();
        p
    });
}

#[test]
fn tree_mixed_kinds() {
    check_tree("tree_mixed_kinds", tree_mixed);
}

#[test]
fn tree_deep_nesting() {
    check_tree("tree_deep_nesting", tree_deep);
}

#[test]
fn tree_unusual_names() {
    check_tree("tree_unusual_names", tree_names);
}

#[test]
fn tree_large_files() {
    check_tree("tree_large_files", tree_large);
}

// ---------------------------------------------------------------------------------------------
// Text paths

/// `s` as a Nix string literal.
fn nix_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn strata_add_text(root: &Path, dir: &Path, name: &str, contents: &str, refs: &[&str]) -> String {
    let file = dir.join(format!("text-{}", name.len()));
    fs::write(&file, contents).unwrap();
    let mut c = strata_store(root, ["add-text", name]);
    c.arg(&file);
    for r in refs {
        c.args(["--reference", r]);
    }
    let p = run(&mut c, None).ok().line();
    // Standard input gives the same path.
    let mut c = strata_store(root, ["add-text", name]);
    for r in refs {
        c.args(["--reference", r]);
    }
    assert_eq!(run(&mut c, Some(contents.as_bytes())).ok().line(), p);
    p
}

#[test]
fn text_paths_match_builtins_to_file() {
    let Some(nix) = Nix::get("text_paths_match_builtins_to_file") else {
        return;
    };
    let (tmp, r1, r2) = roots();
    let cases = [
        ("hello.txt", "hello\n"),
        ("empty", ""),
        ("no-newline", "no newline at the end"),
        (
            "script.sh",
            "#!/bin/sh\necho \"$HOME\" '${x}' \\ back\\slash\n\ttab\r\ncr\n",
        ),
        ("unicode", "héllo 日本 Ünïcödé\n"),
        (
            "looks-like-a-path",
            "/nix/store/00000000000000000000000000000000-x\n",
        ),
    ];
    for (name, contents) in cases {
        let theirs = nix.eval_store_path(
            &r2,
            &format!(
                "builtins.toFile {} {}",
                nix_string(name),
                nix_string(contents)
            ),
        );
        let ours = strata_add_text(&r1, tmp.path(), name, contents, &[]);
        assert_eq!(ours, theirs, "text {name:?}");
        let si = strata_info(&r1, &ours);
        let ni = nix.path_info(&r2, &theirs);
        assert_eq!(comparable(&si), comparable(&ni), "text {name:?}");
        assert_eq!(si["ca"], ni["ca"], "text {name:?}: content address");
        assert_eq!(
            fs::read(r1.join(&ours[1..])).unwrap(),
            contents.as_bytes(),
            "text {name:?}: contents on disk"
        );
    }
    strata_verify_clean(&r1, cases.len());
    nix.verify(&r1);
}

/// A text that refers to other store paths, as `builtins.toFile` with a string context does.
#[test]
fn text_paths_with_references() {
    let Some(nix) = Nix::get("text_paths_with_references") else {
        return;
    };
    let (tmp, r1, r2) = roots();
    let src = tmp.path().join("src");
    mkdir(&src);
    let tree = tree_mixed(&src);

    // A source path and a text, in both stores.
    let tree_ours = run(strata_store(&r1, ["add"]).arg(&tree), None).ok().line();
    let tree_theirs = run(
        &mut nix.nix_store_at(&r2, &[os("--add"), tree.as_os_str()]),
        None,
    )
    .ok()
    .line();
    assert_eq!(tree_ours, tree_theirs);
    let foo_nix = r#"builtins.toFile "foo" "hello\n""#;
    let foo = nix.eval_store_path(&r2, foo_nix);
    assert_eq!(strata_add_text(&r1, tmp.path(), "foo", "hello\n", &[]), foo);

    // One reference.
    let bar = nix.eval_store_path(
        &r2,
        &format!(r#"let foo = {foo_nix}; in builtins.toFile "bar" "refers to ${{foo}}\n""#),
    );
    let bar_contents = format!("refers to {foo}\n");
    assert_eq!(
        strata_add_text(&r1, tmp.path(), "bar", &bar_contents, &[&foo]),
        bar,
        "toFile with one reference"
    );

    // Two references, one of them a source tree, and a reference only by name.
    let expr = format!(
        r#"let foo = {foo_nix}; t = builtins.storePath "{tree_theirs}";
           bar = builtins.toFile "bar" "refers to ${{foo}}\n";
           in builtins.toFile "baz-with-refs" "${{bar}} and ${{t}}/hello\n""#
    );
    let baz = nix.eval_store_path(&r2, &expr);
    let baz_contents = format!("{bar} and {tree_theirs}/hello\n");
    assert_eq!(
        strata_add_text(
            &r1,
            tmp.path(),
            "baz-with-refs",
            &baz_contents,
            &[&bar, &tree_ours]
        ),
        baz,
        "toFile with two references"
    );
    // The reference order on the command line does not matter.
    assert_eq!(
        strata_add_text(
            &r1,
            tmp.path(),
            "baz-with-refs",
            &baz_contents,
            &[&tree_ours, &bar]
        ),
        baz
    );

    for p in [&foo, &bar, &baz] {
        assert_eq!(
            comparable(&strata_info(&r1, p)),
            comparable(&nix.path_info(&r2, p)),
            "path-info of {p}"
        );
        assert_eq!(
            strata_info(&r1, p)["ca"],
            nix.path_info(&r2, p)["ca"],
            "ca of {p}"
        );
        // Nix reads strata's reference table.
        assert_eq!(
            nix.references(&r1, p),
            nix.references(&r2, p),
            "references of {p}"
        );
    }
    let closure: BTreeSet<String> = run(&mut strata_store(&r1, ["closure", &baz]), None)
        .ok()
        .lines()
        .into_iter()
        .collect();
    let nix_closure: BTreeSet<String> =
        run(&mut nix.nix_store_at(&r2, &[os("-qR"), os(&baz)]), None)
            .ok()
            .lines()
            .into_iter()
            .collect();
    assert_eq!(closure, nix_closure);
    strata_verify_clean(&r1, 4);
    nix.verify(&r1);
}

// ---------------------------------------------------------------------------------------------
// Export and import

/// Paths a stream import printed, or `nix-store -qR` listed.
fn set(out: &Output) -> BTreeSet<String> {
    out.lines().into_iter().collect()
}

#[test]
fn export_from_strata_imports_into_nix() {
    let Some(nix) = Nix::get("export_from_strata_imports_into_nix") else {
        return;
    };
    let (tmp, r1, r2) = roots();
    let src = tmp.path().join("src");
    mkdir(&src);
    let tree = run(strata_store(&r1, ["add"]).arg(tree_mixed(&src)), None)
        .ok()
        .line();
    let single = src.join("single-link");
    symlink("mixed/hello", &single).unwrap();
    let link = run(strata_store(&r1, ["add"]).arg(&single), None)
        .ok()
        .line();
    let foo = strata_add_text(&r1, tmp.path(), "foo", "hello\n", &[]);
    let bar = strata_add_text(&r1, tmp.path(), "bar", &format!("{foo}\n"), &[&foo]);
    let top = strata_add_text(
        &r1,
        tmp.path(),
        "top",
        &format!("{bar} {tree} {link}\n"),
        &[&bar, &tree, &link],
    );
    // An unrelated path that must not be exported.
    let other = strata_add_text(&r1, tmp.path(), "other", "unrelated\n", &[]);

    let stream = run(&mut strata_store(&r1, ["export", &top]), None)
        .ok()
        .stdout;
    // -o FILE writes the same bytes.
    let file = tmp.path().join("closure.export");
    run(strata_store(&r1, ["export", &top, "-o"]).arg(&file), None).ok();
    assert_bytes_eq("export -o vs stdout", &fs::read(&file).unwrap(), &stream);

    let imported = run(&mut nix.nix_store_at(&r2, &[os("--import")]), Some(&stream)).ok();
    let expected: BTreeSet<String> = [&tree, &link, &foo, &bar, &top]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(set(&imported), expected, "paths nix-store --import printed");
    assert!(
        !r2.join(&other[1..]).exists(),
        "an unrelated path was exported"
    );
    for p in &expected {
        assert_eq!(
            nix.references(&r2, p),
            nix.references(&r1, p),
            "nix-store -q --references {p}"
        );
        assert_eq!(
            comparable(&nix.path_info(&r2, p)),
            comparable(&strata_info(&r1, p)),
            "path-info of {p} after import into Nix"
        );
    }
    let closure = set(&run(&mut nix.nix_store_at(&r2, &[os("-qR"), os(&top)]), None).ok());
    assert_eq!(closure, expected);
    nix.verify(&r2);
    nix.verify(&r1);
    strata_verify_clean(&r1, 6);
}

#[test]
fn export_from_nix_imports_into_strata() {
    let Some(nix) = Nix::get("export_from_nix_imports_into_strata") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let r2 = tmp.path().join("nix-root");
    let r1 = tmp.path().join("strata-root");
    let src = tmp.path().join("src");
    mkdir(&src);
    let names = tree_names(&src);
    let mixed = tree_mixed(&src);
    let t1 = run(
        &mut nix.nix_store_at(&r2, &[os("--add"), names.as_os_str()]),
        None,
    )
    .ok()
    .line();
    let t2 = run(
        &mut nix.nix_store_at(&r2, &[os("--add"), mixed.as_os_str()]),
        None,
    )
    .ok()
    .line();
    let top = nix.eval_store_path(
        &r2,
        &format!(
            r#"let a = builtins.storePath "{t1}"; b = builtins.storePath "{t2}";
               foo = builtins.toFile "foo" "${{a}}\n";
               in builtins.toFile "top" "${{foo}} ${{b}}\n""#
        ),
    );
    let closure: Vec<String> = run(&mut nix.nix_store_at(&r2, &[os("-qR"), os(&top)]), None)
        .ok()
        .lines();
    assert_eq!(closure.len(), 4, "closure of {top}: {closure:?}");
    let mut export = nix.nix_store_at(&r2, &[os("--export")]);
    export.args(&closure);
    let stream = run(&mut export, None).ok().stdout;

    let imported = run(&mut strata_store(&r1, ["import"]), Some(&stream)).ok();
    let expected: BTreeSet<String> = closure.iter().cloned().collect();
    assert_eq!(
        set(&imported),
        expected,
        "paths strata store import printed"
    );
    for p in &closure {
        assert_eq!(
            comparable(&strata_info(&r1, p)),
            comparable(&nix.path_info(&r2, p)),
            "path-info of {p} after import into strata"
        );
        // Nix reads the references strata registered.
        assert_eq!(
            nix.references(&r1, p),
            nix.references(&r2, p),
            "references of {p}"
        );
        let base = p.strip_prefix("/nix/store/").unwrap();
        let ours = run(
            strata()
                .args(["store", "dump"])
                .arg(r1.join("nix/store").join(base)),
            None,
        )
        .ok()
        .stdout;
        // `nix-store --dump` takes a file system path, not a store path.
        let theirs = run(
            &mut nix.nix_store(&[os("--dump"), r2.join("nix/store").join(base).as_os_str()]),
            None,
        )
        .ok()
        .stdout;
        assert_bytes_eq(&format!("NAR of {p}"), &ours, &theirs);
        assert_eq!(
            physical_listing(&r1.join("nix/store").join(base)),
            physical_listing(&r2.join("nix/store").join(base)),
            "metadata of the imported copy of {p}"
        );
        assert_eq!(
            comparable(&nix.path_info(&r1, p)),
            comparable(&nix.path_info(&r2, p)),
            "nix path-info of {p} on strata's store"
        );
    }
    strata_verify_clean(&r1, 4);
    assert_eq!(valid_count(&r1), 4, "stray files in the strata store");
    nix.verify(&r1);

    // Importing the same stream again is a no-op that still succeeds.
    let again = run(&mut strata_store(&r1, ["import"]), Some(&stream)).ok();
    assert_eq!(set(&again), expected);
    strata_verify_clean(&r1, 4);

    // A stream read from a file works as well, into a fresh store.
    let file = tmp.path().join("nix.export");
    fs::write(&file, &stream).unwrap();
    let r3 = tmp.path().join("strata-root-2");
    let from_file = run(strata_store(&r3, ["import"]).arg(&file), None).ok();
    assert_eq!(set(&from_file), expected);
    strata_verify_clean(&r3, 4);
    nix.verify(&r3);

    // And strata exports the imported closure so that Nix takes it back.
    let r4 = tmp.path().join("nix-root-2");
    let back = run(&mut strata_store(&r1, ["export", &top]), None)
        .ok()
        .stdout;
    let reimported = run(&mut nix.nix_store_at(&r4, &[os("--import")]), Some(&back)).ok();
    assert_eq!(set(&reimported), expected);
    nix.verify(&r4);
}

/// Everything in a store directory, including hidden staging leftovers.
fn store_entries(root: &Path) -> Vec<PathBuf> {
    match fs::read_dir(root.join("nix/store")) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Trees Nix refuses to add are refused by strata too, without leftovers; `--name` renames a
/// path as `nix store add-path --name` does.
#[test]
fn add_refusals_and_names_match_nix() {
    let Some(nix) = Nix::get("add_refusals_and_names_match_nix") else {
        return;
    };
    let (tmp, r1, r2) = roots();
    let src = tmp.path().join("src");
    mkdir(&src.join("with-fifo/sub"));
    write_file(&src.join("with-fifo/a"), b"a\n", 0o644);
    write_file(&src.join("with-fifo/sub/z"), b"z\n", 0o644);
    let fifo = src.join("with-fifo/sub/pipe");
    run(Command::new("mkfifo").arg(&fifo), None).ok();
    let spaced = src.join("has space");
    mkdir(&spaced);
    write_file(&spaced.join("f"), b"f\n", 0o644);
    let unicode = src.join("héllo");
    write_file(&unicode, b"h\n", 0o644);

    for (tree, msg) in [
        (&src.join("with-fifo"), "named pipe"),
        (&spaced, "forbidden character ' '"),
        (&unicode, "forbidden character"),
    ] {
        let theirs = run(
            &mut nix.nix_store_at(&r2, &[os("--add"), tree.as_os_str()]),
            None,
        );
        assert!(
            !theirs.success(),
            "nix-store --add {} succeeded",
            tree.display()
        );
        let ours = run(strata_store(&r1, ["add"]).arg(tree), None);
        assert_eq!(
            ours.code,
            Some(1),
            "strata store add {}: {}",
            tree.display(),
            ours.stderr
        );
        assert!(!ours.stderr.contains("panicked"), "{}", ours.stderr);
        assert!(ours.stderr.contains(msg), "{}", ours.stderr);
        let left = store_entries(&r1);
        assert!(left.is_empty(), "a refused add left {left:?} behind");
    }

    let ours = run(
        strata_store(&r1, ["add", "--name", "renamed"]).arg(&spaced),
        None,
    )
    .ok()
    .line();
    let theirs = run(
        &mut nix.nix(&[
            os("store"),
            os("add-path"),
            os("--store"),
            r2.as_os_str(),
            os("--name"),
            os("renamed"),
            spaced.as_os_str(),
        ]),
        None,
    )
    .ok()
    .line();
    assert_eq!(ours, theirs, "add --name vs nix store add-path --name");
    strata_verify_clean(&r1, 1);
    nix.verify(&r1);
}

/// A derivation's closure (a .drv, the source it names) exported by Nix imports into strata
/// with the same metadata, and Nix can query it in strata's store.
#[test]
fn import_of_a_nix_derivation_closure() {
    let Some(nix) = Nix::get("import_of_a_nix_derivation_closure") else {
        return;
    };
    let (_tmp, r1, r2) = roots();
    let mut inst = nix.cmd("nix-instantiate");
    inst.arg("--store").arg(&r2).args([
        "-E",
        r#"derivation {
             name = "hello-drv"; system = builtins.currentSystem; builder = "/bin/sh";
             args = [ "-c" "echo hi > $out" ];
             src = builtins.toFile "src.txt" "source\n";
           }"#,
    ]);
    let drv = run(&mut inst, None).ok().line();
    assert!(
        drv.ends_with("-hello-drv.drv"),
        "nix-instantiate printed {drv:?}"
    );
    let closure = run(&mut nix.nix_store_at(&r2, &[os("-qR"), os(&drv)]), None)
        .ok()
        .lines();
    assert_eq!(closure.len(), 2, "closure of {drv}: {closure:?}");
    let mut export = nix.nix_store_at(&r2, &[os("--export")]);
    export.args(&closure);
    let stream = run(&mut export, None).ok().stdout;
    let imported = run(&mut strata_store(&r1, ["import"]), Some(&stream)).ok();
    assert_eq!(set(&imported), closure.iter().cloned().collect());
    // `nix path-info` would answer for a .drv's outputs; `nix-store -q` answers for the .drv.
    for p in &closure {
        for q in ["--hash", "--size", "--references", "--deriver"] {
            assert_eq!(
                run(&mut nix.nix_store_at(&r1, &[os("-q"), os(q), os(p)]), None)
                    .ok()
                    .lines(),
                run(&mut nix.nix_store_at(&r2, &[os("-q"), os(q), os(p)]), None)
                    .ok()
                    .lines(),
                "nix-store -q {q} {p}"
            );
        }
    }
    // Nix finds the derivation's outputs in strata's store.
    assert_eq!(
        run(
            &mut nix.nix_store_at(&r1, &[os("-q"), os("--outputs"), os(&drv)]),
            None
        )
        .ok()
        .lines(),
        run(
            &mut nix.nix_store_at(&r2, &[os("-q"), os("--outputs"), os(&drv)]),
            None
        )
        .ok()
        .lines(),
    );
    strata_verify_clean(&r1, 2);
    nix.verify(&r1);
}

/// `strata store add-fixed` against `nix-store --add-fixed`, flat and recursive, in every
/// algorithm.
#[test]
fn add_fixed_matches_nix() {
    let Some(nix) = Nix::get("add_fixed_matches_nix") else {
        return;
    };
    let (tmp, r1, r2) = roots();
    let src = tmp.path().join("src");
    mkdir(&src);
    let tree = tree_mixed(&src);
    let file = src.join("fixed.bin");
    write_file(&file, &Rng::new(7).bytes(100_003), 0o755);
    let mut n = 0;
    for algo in ["sha256", "sha1", "md5", "sha512"] {
        for (path, recursive) in [(&file, false), (&file, true), (&tree, true)] {
            let flag: &[&str] = if recursive { &["--recursive"] } else { &[] };
            let mut ours = strata_store(&r1, ["add-fixed"]);
            ours.args(flag).arg(algo).arg(path);
            let ours = run(&mut ours, None).ok().line();
            let mut theirs = nix.nix_store_at(&r2, &[os("--add-fixed")]);
            theirs.args(flag).arg(algo).arg(path);
            let theirs = run(&mut theirs, None).ok().line();
            let what = format!("add-fixed {flag:?} {algo} {}", path.display());
            assert_eq!(ours, theirs, "{what}");
            let si = strata_info(&r1, &ours);
            let ni = nix.path_info(&r2, &theirs);
            assert_eq!(comparable(&si), comparable(&ni), "{what}");
            assert_eq!(si["ca"], ni["ca"], "{what}: content address");
            n += 1;
        }
    }
    // sha256 of the file's contents added recursively is the same path as `add`.
    let added = run(strata_store(&r1, ["add"]).arg(&tree), None).ok().line();
    let fixed = run(
        strata_store(&r1, ["add-fixed", "--recursive", "sha256"]).arg(&tree),
        None,
    )
    .ok()
    .line();
    assert_eq!(added, fixed);
    // A directory has no flat hash.
    let flat_dir = run(strata_store(&r1, ["add-fixed", "sha256"]).arg(&tree), None);
    assert_eq!(flat_dir.code, Some(1), "{}", flat_dir.stderr);
    assert!(!flat_dir.stderr.contains("panicked"), "{}", flat_dir.stderr);
    let theirs = run(
        &mut nix.nix_store_at(&r2, &[os("--add-fixed"), os("sha256"), tree.as_os_str()]),
        None,
    );
    assert!(
        !theirs.success(),
        "nix-store --add-fixed of a directory succeeded"
    );
    let staged: Vec<PathBuf> = store_entries(&r1)
        .into_iter()
        .filter(|p| p.file_name().unwrap().as_bytes().starts_with(b"."))
        .collect();
    assert!(staged.is_empty(), "a refused add left {staged:?} behind");
    strata_verify_clean(&r1, n);
    nix.verify(&r1);
}
