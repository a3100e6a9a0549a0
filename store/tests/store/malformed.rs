//! The store's own rule on bad input, checked on the library: every malformed archive of the
//! corpus ([`super::malformed_corpus`]) is refused by `nar::restore`, every malformed export
//! stream by `LocalStore::import`, each with a message that names the problem and, where the
//! corpus gives one, the byte offset; and a failed import leaves the store exactly as it was
//! (files and database rows). The CLI's tests run the same corpus through `strata store` for
//! its exit codes and messages.

use std::collections::BTreeMap;
use std::error::Error;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use strata_store::nar;
use strata_store::LocalStore;
use tempfile::TempDir;

use super::common::open;
use super::malformed_corpus::*;

/// The error and its causes, as a user reads them: "outer: inner: ...".
fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Checks a refusal: one of `messages` and, when given, the offset.
fn check_message(what: &str, message: &str, messages: &[String], at: Option<u64>) {
    assert!(
        messages.iter().any(|m| message.contains(m.as_str())),
        "{what}: expected one of {messages:?} in the message, got: {message}"
    );
    if let Some(n) = at {
        let want = format!(" at byte {n}: ");
        assert!(
            message.contains(&want),
            "{what}: expected the offset '{want}' in the message, got: {message}"
        );
    }
}

/// Restores `input` as the CLI does (parser and restorer); how many bytes the archive took.
fn restore(input: &[u8], dest: &Path) -> Result<usize, nar::NarError> {
    let mut rest = input;
    nar::NarParser::new(&mut rest).parse(&mut nar::Restorer::new(dest))?;
    Ok(input.len() - rest.len())
}

/// The archive must be refused. Trailing data is the caller's to refuse (the parser stops at
/// the archive's end, so a stream can go on after it): there the archive must end before the
/// input does.
fn restore_must_fail(what: &str, input: &[u8], messages: &[String], at: Option<u64>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join("out");
    let trailing = messages.iter().any(|m| m.starts_with("trailing data"));
    match restore(input, &dest) {
        Ok(n) if trailing => assert!(n < input.len(), "{what}: took the whole input"),
        Ok(n) => panic!("{what}: restored an archive of {n} bytes"),
        Err(e) => check_message(what, &chain(&e), messages, at),
    }
}

#[test]
fn restore_base_archive_round_trips() {
    // The positive control: each case fails because of its own defect.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join("out");
    let nar = base_nar();
    nar::restore(&nar[..], &dest).expect("restore");
    let mut back = Vec::new();
    nar::dump(&dest, &mut back).expect("dump");
    assert_eq!(back, nar);
}

#[test]
fn restore_refuses_malformed_archives() {
    let cases = nar_corpus();
    assert!(!cases.is_empty());
    for c in cases {
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

/// Every file under a store's root and every database row.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    files: BTreeMap<String, Vec<u8>>,
    rows: Vec<String>,
}

impl Snapshot {
    fn take(root: &Path) -> Snapshot {
        let mut files = BTreeMap::new();
        walk(root, root, &mut files);
        let db = rusqlite::Connection::open(root.join("nix/var/nix/db/db.sqlite")).expect("db");
        let tables: Vec<String> = db
            .prepare("select name from sqlite_master where type = 'table' order by name")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let mut rows = Vec::new();
        for t in tables {
            let mut stmt = db
                .prepare(&format!("select * from \"{t}\""))
                .expect("prepare");
            let n = stmt.column_count();
            let mut q = stmt.query([]).expect("query");
            while let Some(r) = q.next().expect("row") {
                let vals: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).expect("col")))
                    .collect();
                rows.push(format!("{t}: {}", vals.join(", ")));
            }
        }
        rows.sort();
        Snapshot { files, rows }
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
    let rel = p
        .strip_prefix(root)
        .expect("below root")
        .to_string_lossy()
        .into_owned();
    let md = fs::symlink_metadata(p).expect("stat");
    let mode = md.permissions().mode() & 0o7777;
    if md.is_dir() {
        out.insert(rel, format!("dir {mode:o}").into_bytes());
        for e in fs::read_dir(p).expect("ls") {
            walk(root, &e.expect("entry").path(), out);
        }
    } else if md.is_symlink() {
        let t = fs::read_link(p).expect("readlink");
        out.insert(rel, format!("symlink {}", t.display()).into_bytes());
    } else {
        let mut v = format!("file {mode:o} ").into_bytes();
        v.extend(fs::read(p).expect("read"));
        out.insert(rel, v);
    }
}

/// A store with a tree and a text referring to it, for imports to fail against.
struct Fixture {
    _tmp: TempDir,
    root: PathBuf,
    store: LocalStore,
    known: Vec<String>,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("root");
        let src = tmp.path().join("fixture");
        fs::create_dir_all(src.join("sub")).expect("mkdir");
        fs::write(src.join("sub/file"), b"fixture\n").expect("write");
        std::os::unix::fs::symlink("sub/file", src.join("link")).expect("symlink");
        let mut store = open(&root);
        let tree = store.add_path(&src, None).expect("add").path;
        let printed = store.print(&tree);
        let refs = [tree.clone()].into_iter().collect();
        let text = store
            .add_text(
                "fixture-text",
                format!("uses {printed}\n").as_bytes(),
                &refs,
            )
            .expect("add text")
            .path;
        let known = vec![printed, store.print(&text)];
        Fixture {
            _tmp: tmp,
            root,
            store,
            known,
        }
    }

    fn import_must_fail(
        &mut self,
        before: &Snapshot,
        what: &str,
        input: &[u8],
        messages: &[String],
        at: Option<u64>,
    ) {
        match self.store.import(input) {
            Ok(p) => panic!("{what}: imported {p:?}"),
            Err(e) => check_message(what, &chain(&e), messages, at),
        }
        let after = Snapshot::take(&self.root);
        assert!(before == &after, "{what}: the store changed");
    }

    fn valid(&self, printed: &str) -> bool {
        let p = self.store.parse_path(printed).expect("a store path");
        self.store.is_valid(&p).expect("is_valid")
    }
}

#[test]
fn import_refuses_malformed_archives_in_streams() {
    let mut f = Fixture::new();
    let before = Snapshot::take(&f.root);
    for c in nar_corpus().into_iter().filter(|c| c.in_stream) {
        let mut w = Wire::new();
        record(&mut w, &c.input, &fake_path(7, "bad-nar"), &[]);
        w.num(0);
        let at = c.at.offset(8, w.buf.len());
        let what = format!("stream with {}", c.name);
        f.import_must_fail(&before, &what, &w.buf, &c.message, at);
    }
}

#[test]
fn import_refuses_malformed_streams() {
    let mut f = Fixture::new();
    let before = Snapshot::take(&f.root);
    let known = f.known.clone();
    for c in stream_corpus(&known) {
        let at = c.at.offset(0, c.input.len());
        f.import_must_fail(&before, &c.name, &c.input, &c.message, at);
    }
    for p in &known {
        assert!(f.valid(p), "{p} is no longer valid");
    }
    for p in [fake_path(1, "one"), fake_path(2, "two")] {
        assert!(!f.valid(&p), "{p} is valid after failed imports");
    }
}

#[test]
fn import_refuses_truncated_streams() {
    let mut f = Fixture::new();
    let before = Snapshot::take(&f.root);
    let mut w = Wire::new();
    let one = fake_path(1, "one");
    let two = fake_path(2, "two");
    record(&mut w, &small_nar(b"first\n"), &one, &[&f.known[0]]);
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
            let msg = [format!("NAR ends early at byte {cut}: ")];
            f.import_must_fail(&before, &what, &stream[..cut], &msg, Some(cut as u64));
        } else {
            let msg = ["stream ends early while reading the".to_owned()];
            f.import_must_fail(&before, &what, &stream[..cut], &msg, None);
        }
    }
    // The uncut stream is fine.
    f.store.import(&stream[..]).expect("import");
    assert!(f.valid(&one) && f.valid(&two));
}
