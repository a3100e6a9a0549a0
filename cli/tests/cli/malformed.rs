//! The corpus of malformed NARs and export streams (the store's, in
//! `store/tests/store/malformed_corpus.rs`, whose own tests check the library) through the CLI.
//!
//! Every input must be refused by `strata store restore` / `strata store import` with exit
//! status 1, a message that names the problem (and its byte offset where the library knows
//! it), no panic, and no trace: a failed restore leaves no destination behind, and a failed
//! import leaves the store byte-for-byte as it was.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::malformed_corpus::*;
use super::{run, strata, strata_store, Output};

/// Checks the failure of one case: exit status 1, no panic, the expected message and offset.
fn check_failure(what: &str, out: &Output, messages: &[String], at: Option<u64>) {
    assert!(
        !out.stderr.contains("panicked"),
        "{what}: strata panicked:\n{}",
        out.stderr
    );
    assert_eq!(
        out.code,
        Some(1),
        "{what}: expected exit status 1; stderr:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.starts_with("error: "),
        "{what}: the message does not start with 'error: ':\n{}",
        out.stderr
    );
    assert!(
        messages.iter().any(|m| out.stderr.contains(m.as_str())),
        "{what}: expected one of {messages:?} in the message, got:\n{}",
        out.stderr
    );
    if let Some(n) = at {
        let want = format!(" at byte {n}: ");
        assert!(
            out.stderr.contains(&want),
            "{what}: expected the offset '{want}' in the message, got:\n{}",
            out.stderr
        );
    }
    assert!(
        out.stdout.is_empty(),
        "{what}: printed something on standard output: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// Runs `strata store restore DEST` on `input` in an empty directory; the restore must fail
/// and leave the directory empty.
fn restore_must_fail(what: &str, input: &[u8], messages: &[String], at: Option<u64>) {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out");
    let out = run(strata().args(["store", "restore"]).arg(&dest), Some(input));
    check_failure(what, &out, messages, at);
    assert!(
        fs::symlink_metadata(&dest).is_err(),
        "{what}: the destination exists after a failed restore"
    );
    let left = leftovers(tmp.path());
    assert!(left.is_empty(), "{what}: left behind {left:?}");
}

#[test]
fn restore_base_archive_round_trips() {
    // The positive control: the archive the cases are made from is valid and canonical, so each
    // case fails because of its own defect.
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out");
    let nar = base_nar();
    run(strata().args(["store", "restore"]).arg(&dest), Some(&nar)).ok();
    let back = run(strata().args(["store", "dump"]).arg(&dest), None)
        .ok()
        .stdout;
    assert_eq!(back, nar);
    assert_eq!(fs::read(dest.join("a")).unwrap(), b"hello\n");
    assert_eq!(
        fs::symlink_metadata(dest.join("b")).unwrap().mode() & 0o100,
        0o100
    );
    assert_eq!(fs::read_link(dest.join("c")).unwrap(), Path::new("a"));
    assert_eq!(fs::read(dest.join("d/e")).unwrap(), b"");
    // A destination that exists is refused and left alone.
    let out = run(strata().args(["store", "restore"]).arg(&dest), Some(&nar));
    check_failure(
        "restore over an existing path",
        &out,
        &["already exists".to_owned()],
        None,
    );
    assert_eq!(
        run(strata().args(["store", "dump"]).arg(&dest), None)
            .ok()
            .stdout,
        nar
    );
}

#[test]
fn restore_refuses_malformed_archives() {
    for c in nar_corpus() {
        let at = c.at.offset(0, c.input.len());
        restore_must_fail(&c.name, &c.input, &c.message, at);
    }
}

#[test]
fn restore_refuses_truncated_archives() {
    let nar = base_nar();
    for cut in 0..nar.len() {
        restore_must_fail(
            &format!("archive cut at byte {cut} of {}", nar.len()),
            &nar[..cut],
            &[format!("NAR ends early at byte {cut}: ")],
            Some(cut as u64),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Export streams

/// A snapshot of everything a store is: every file under its root (names, kinds, modes,
/// contents, link targets; not SQLite's -wal and -shm files), every database row, and what
/// `strata store verify` and `path-info` say about it.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    files: BTreeMap<String, Vec<u8>>,
    rows: Vec<String>,
    cli: Option<(Vec<u8>, Vec<u8>)>,
}

impl Snapshot {
    fn take(store: &Store, with_cli: bool) -> Snapshot {
        let mut files = BTreeMap::new();
        walk(&store.root, &store.root, &mut files);
        let db = rusqlite::Connection::open(store.root.join("nix/var/nix/db/db.sqlite")).unwrap();
        let tables: Vec<String> = db
            .prepare("select name from sqlite_master where type = 'table' order by name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut rows: Vec<String> = db
            .prepare("select type, name, tbl_name, sql from sqlite_master")
            .unwrap()
            .query_map([], |r| {
                Ok(format!(
                    "schema {:?} {:?} {:?} {:?}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for t in tables {
            let mut stmt = db.prepare(&format!("select * from \"{t}\"")).unwrap();
            let n = stmt.column_count();
            let mut q = stmt.query([]).unwrap();
            while let Some(r) = q.next().unwrap() {
                let vals: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect();
                rows.push(format!("{t}: {}", vals.join(", ")));
            }
        }
        rows.sort();
        drop(db);
        let cli = with_cli.then(|| {
            let verify = run(&mut strata_store(&store.root, ["verify", "--json"]), None).ok();
            let mut info = strata_store(&store.root, ["path-info", "--json"]);
            info.args(&store.known);
            let info = run(&mut info, None).ok();
            (verify.stdout, info.stdout)
        });
        Snapshot { files, rows, cli }
    }

    /// Whether two snapshots agree; the CLI's view is compared only when both have it.
    fn same(&self, other: &Snapshot) -> bool {
        self.files == other.files
            && self.rows == other.rows
            && (self.cli.is_none() || other.cli.is_none() || self.cli == other.cli)
    }

    /// What differs between two snapshots, for a readable failure.
    fn diff(&self, other: &Snapshot) -> String {
        let mut d = Vec::new();
        for (k, v) in &self.files {
            match other.files.get(k) {
                None => d.push(format!("removed: {k}")),
                Some(w) if w != v => d.push(format!("changed: {k}")),
                Some(_) => {}
            }
        }
        for k in other.files.keys() {
            if !self.files.contains_key(k) {
                d.push(format!("added: {k}"));
            }
        }
        if self.rows != other.rows {
            d.push(format!(
                "database rows differ:\n  before: {:?}\n  after: {:?}",
                self.rows, other.rows
            ));
        }
        if self.cli.is_some() && other.cli.is_some() && self.cli != other.cli {
            d.push("strata verify / path-info output differs".to_owned());
        }
        d.join("\n")
    }
}

fn walk(root: &Path, p: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
    if name
        .as_deref()
        .is_some_and(|n| n.ends_with("-wal") || n.ends_with("-shm"))
    {
        return;
    }
    let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
    let md = fs::symlink_metadata(p).unwrap();
    let mode = md.permissions().mode() & 0o7777;
    if md.is_dir() {
        out.insert(rel, format!("dir {mode:o}").into_bytes());
        for e in fs::read_dir(p).unwrap() {
            walk(root, &e.unwrap().path(), out);
        }
    } else if md.is_symlink() {
        let t = fs::read_link(p).unwrap();
        out.insert(rel, format!("symlink {}", t.display()).into_bytes());
    } else {
        let mut v = format!("file {mode:o} ").into_bytes();
        v.extend(fs::read(p).unwrap());
        out.insert(rel, v);
    }
}

/// A store with some valid paths in it, for imports to fail against.
struct Store {
    _tmp: TempDir,
    root: PathBuf,
    /// Paths valid in the store.
    known: Vec<String>,
}

impl Store {
    fn new() -> Store {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let src = tmp.path().join("fixture");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/file"), b"fixture\n").unwrap();
        std::os::unix::fs::symlink("sub/file", src.join("link")).unwrap();
        let tree = run(strata_store(&root, ["add"]).arg(&src), None)
            .ok()
            .line();
        let text = run(
            &mut strata_store(&root, ["add-text", "fixture-text", "--reference", &tree]),
            Some(format!("uses {tree}\n").as_bytes()),
        )
        .ok()
        .line();
        Store {
            _tmp: tmp,
            root,
            known: vec![tree, text],
        }
    }

    /// Imports `input`, which must fail as described and leave the store as `before`.
    fn import_must_fail(
        &self,
        before: &Snapshot,
        with_cli: bool,
        what: &str,
        input: &[u8],
        messages: &[String],
        at: Option<u64>,
    ) {
        let out = run(&mut strata_store(&self.root, ["import"]), Some(input));
        check_failure(what, &out, messages, at);
        let after = Snapshot::take(self, with_cli);
        assert!(
            before.same(&after),
            "{what}: the store changed:\n{}",
            before.diff(&after)
        );
    }
}

#[test]
fn import_base_streams_succeed() {
    // The positive controls for the stream cases below.
    let store = Store::new();
    let before = Snapshot::take(&store, true);
    assert!(
        before == Snapshot::take(&store, true),
        "taking a snapshot changes the store"
    );
    let one = fake_path(1, "one");
    let two = fake_path(2, "two");
    let mut w = Wire::new();
    record(&mut w, &base_nar(), &one, &[]);
    // A reference to an earlier record, to itself, and to a path valid in the store.
    record(
        &mut w,
        &small_nar(b"two\n"),
        &two,
        &[&one, &two, &store.known[0]],
    );
    w.num(0);
    let out = run(&mut strata_store(&store.root, ["import"]), Some(&w.buf)).ok();
    assert_eq!(out.lines(), vec![one.clone(), two.clone()]);
    let info = run(
        &mut strata_store(&store.root, ["path-info", "--json", &two]),
        None,
    )
    .ok();
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let mut refs = vec![one.clone(), two.clone(), store.known[0].clone()];
    refs.sort();
    assert_eq!(v[0]["references"], serde_json::json!(refs));
    run(&mut strata_store(&store.root, ["verify"]), None).ok();
    let dumped = run(
        strata()
            .args(["store", "dump"])
            .arg(store.root.join(&one[1..])),
        None,
    )
    .ok()
    .stdout;
    assert_eq!(dumped, base_nar());
    assert!(before != Snapshot::take(&store, true));
}

#[test]
fn import_refuses_malformed_archives_in_streams() {
    let store = Store::new();
    let before = Snapshot::take(&store, true);
    for c in nar_corpus().into_iter().filter(|c| c.in_stream) {
        let mut w = Wire::new();
        record(&mut w, &c.input, &fake_path(7, "bad-nar"), &[]);
        w.num(0);
        let at = c.at.offset(8, w.buf.len());
        store.import_must_fail(
            &before,
            false,
            &format!("stream with {}", c.name),
            &w.buf,
            &c.message,
            at,
        );
    }
    assert!(before == Snapshot::take(&store, true));
}

#[test]
fn import_refuses_malformed_streams() {
    let store = Store::new();
    let before = Snapshot::take(&store, true);
    for c in stream_corpus(&store.known) {
        let at = c.at.offset(0, c.input.len());
        store.import_must_fail(&before, true, &c.name, &c.input, &c.message, at);
    }
    for p in &store.known {
        run(&mut strata_store(&store.root, ["path-info", p]), None).ok();
    }
    for p in [fake_path(1, "one"), fake_path(2, "two")] {
        let out = run(&mut strata_store(&store.root, ["path-info", &p]), None);
        assert_eq!(out.code, Some(1), "{p} is valid after failed imports");
        assert!(out.stderr.contains("is not valid"), "{}", out.stderr);
    }
}

#[test]
fn import_refuses_truncated_streams() {
    let store = Store::new();
    let before = Snapshot::take(&store, true);
    let mut w = Wire::new();
    let one = fake_path(1, "one");
    let two = fake_path(2, "two");
    record(&mut w, &small_nar(b"first\n"), &one, &[&store.known[0]]);
    let second = w.pos();
    let nar2 = small_nar(b"second record\n");
    record(&mut w, &nar2, &two, &[&one]);
    w.num(0);
    let stream = w.buf;
    // The byte ranges that hold archives: there the offset is exactly the cut.
    let nar1 = 8..8 + small_nar(b"first\n").len();
    let nar2 = second as usize + 8..second as usize + 8 + nar2.len();
    for cut in 0..stream.len() {
        let what = format!("stream cut at byte {cut} of {}", stream.len());
        if nar1.contains(&cut) || nar2.contains(&cut) {
            store.import_must_fail(
                &before,
                false,
                &what,
                &stream[..cut],
                &[format!("NAR ends early at byte {cut}: ")],
                Some(cut as u64),
            );
        } else {
            store.import_must_fail(
                &before,
                false,
                &what,
                &stream[..cut],
                &["stream ends early while reading the".to_owned()],
                None,
            );
        }
    }
    assert!(before == Snapshot::take(&store, true));
    // The uncut stream is fine.
    run(&mut strata_store(&store.root, ["import"]), Some(&stream)).ok();
}

// ---------------------------------------------------------------------------------------------
// Other failures that must leave nothing behind

#[test]
fn restore_reports_an_io_error_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("missing-parent/out");
    let out = run(
        strata().args(["store", "restore"]).arg(&dest),
        Some(&base_nar()),
    );
    check_failure(
        "restore below a missing directory",
        &out,
        &["No such file or directory".to_owned()],
        None,
    );
    assert_eq!(
        out.stderr.matches("No such file or directory").count(),
        1,
        "the cause is repeated:\n{}",
        out.stderr
    );
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn export_of_a_corrupt_path_fails_cleanly() {
    let store = Store::new();
    let tmp = tempfile::tempdir().unwrap();
    // Corrupt the file in the fixture tree behind the store's back.
    let victim = store.root.join(&store.known[0][1..]).join("sub/file");
    let sub = victim.parent().unwrap();
    fs::set_permissions(sub, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&victim, b"tampered\n").unwrap();

    let verify = run(&mut strata_store(&store.root, ["verify"]), None);
    assert_eq!(verify.code, Some(1), "verify missed the corruption");
    assert!(verify.stderr.contains("was modified"), "{}", verify.stderr);

    // The text refers to the corrupt tree, so its closure cannot be exported.
    let file = tmp.path().join("closure.export");
    let out = run(
        strata_store(&store.root, ["export", &store.known[1], "-o"]).arg(&file),
        None,
    );
    check_failure(
        "export -o of a corrupt closure",
        &out,
        &[format!("path '{}' is corrupt", store.known[0])],
        None,
    );
    let left = leftovers(tmp.path());
    assert!(left.is_empty(), "a failed export left {left:?} behind");
    let out = run(
        &mut strata_store(&store.root, ["export", &store.known[1]]),
        None,
    );
    assert_eq!(
        out.code,
        Some(1),
        "export to a pipe of a corrupt path succeeded"
    );
    assert!(out.stderr.contains("is corrupt"), "{}", out.stderr);
    // Only the intact path is still exportable.
    let out = run(
        strata_store(&store.root, ["export", "--only", &store.known[1], "-o"]).arg(&file),
        None,
    )
    .ok();
    assert!(out.stdout.is_empty());
    assert_eq!(leftovers(tmp.path()), vec![file]);
}
