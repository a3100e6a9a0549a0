//! A generated corpus of malformed NARs and export streams.
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

use super::{run, strata, strata_store, Output, Wire};

const EXPORT_MAGIC: u64 = 0x4558_494e;

// ---------------------------------------------------------------------------------------------
// Writing NARs token by token

fn magic(w: &mut Wire) -> &mut Wire {
    w.s("nix-archive-1")
}

fn file(w: &mut Wire, executable: bool, contents: &[u8]) {
    w.ss(&["(", "type", "regular"]);
    if executable {
        w.ss(&["executable", ""]);
    }
    w.s("contents").s(contents).s(")");
}

fn link(w: &mut Wire, target: &[u8]) {
    w.ss(&["(", "type", "symlink", "target"]).s(target).s(")");
}

fn dir_start(w: &mut Wire) {
    w.ss(&["(", "type", "directory"]);
}

/// Writes `entry ( name NAME node` and returns the offset of the name token.
fn entry_start(w: &mut Wire, name: &[u8]) -> u64 {
    w.ss(&["entry", "(", "name"]);
    let at = w.pos();
    w.s(name).s("node");
    at
}

fn entry_end(w: &mut Wire) {
    w.s(")");
}

fn dir_end(w: &mut Wire) {
    w.s(")");
}

/// A directory entry holding a small file.
fn file_entry(w: &mut Wire, name: &[u8]) -> u64 {
    let at = entry_start(w, name);
    file(w, false, b"data");
    entry_end(w);
    at
}

/// The valid archive most cases are variations of: files (one executable, one empty), a
/// symlink, a nested directory.
fn base_nar() -> Vec<u8> {
    let mut w = Wire::new();
    magic(&mut w);
    dir_start(&mut w);
    entry_start(&mut w, b"a");
    file(&mut w, false, b"hello\n");
    entry_end(&mut w);
    entry_start(&mut w, b"b");
    file(&mut w, true, b"#!/bin/sh\n");
    entry_end(&mut w);
    entry_start(&mut w, b"c");
    link(&mut w, b"a");
    entry_end(&mut w);
    entry_start(&mut w, b"d");
    dir_start(&mut w);
    entry_start(&mut w, b"e");
    file(&mut w, false, b"");
    entry_end(&mut w);
    dir_end(&mut w);
    entry_end(&mut w);
    dir_end(&mut w);
    w.buf
}

/// A small valid archive (a single file), for streams that are cut at every offset.
fn small_nar(contents: &[u8]) -> Vec<u8> {
    let mut w = Wire::new();
    magic(&mut w);
    file(&mut w, false, contents);
    w.buf
}

/// Where the error is expected.
#[derive(Debug, Clone, Copy)]
enum At {
    /// At this offset in the archive (shifted when the archive is inside a stream).
    Byte(u64),
    /// At the end of whatever input the tool was given.
    End,
    /// The library gives no offset for this problem.
    Unknown,
}

#[derive(Debug)]
struct Case {
    name: String,
    input: Vec<u8>,
    /// Each must appear in the error message (any one of them, for alternatives).
    message: Vec<String>,
    at: At,
    /// Whether the case is about the archive itself, so that it is also malformed inside an
    /// export stream (trailing data after an archive is not, there).
    in_stream: bool,
}

fn case(name: &str, input: Vec<u8>, message: &str, at: At) -> Case {
    Case {
        name: name.to_owned(),
        input,
        message: vec![message.to_owned()],
        at,
        in_stream: true,
    }
}

/// Malformed archives, each with what the error must say.
fn nar_corpus() -> Vec<Case> {
    let mut cases = Vec::new();

    // The magic.
    // (Inside a stream, an empty archive would read the metadata that follows it.)
    cases.push(Case {
        in_stream: false,
        ..case(
            "empty input",
            Vec::new(),
            "NAR ends early at byte 0",
            At::Byte(0),
        )
    });
    let mut w = Wire::new();
    w.s("nix-archive-2");
    file(&mut w, false, b"x");
    cases.push(case(
        "bad magic",
        w.buf,
        "not a NAR: bad magic",
        At::Byte(0),
    ));
    cases.push(case(
        "not an archive at all",
        b"This is a plain text file, not an archive.\n".to_vec(),
        "not a NAR: bad magic",
        At::Byte(0),
    ));
    let mut w = Wire::new();
    w.num(u64::MAX).raw(b"nix-archive-1");
    cases.push(case(
        "magic of absurd length",
        w.buf,
        "bad magic",
        At::Byte(0),
    ));
    let mut w = Wire::new();
    w.num(13).raw(b"nix-archive-1").raw(&[0, 7, 0]);
    cases.push(case(
        "non-zero padding after the magic",
        w.buf,
        "bad magic",
        At::Byte(0),
    ));

    // Node framing.
    let mut w = Wire::new();
    magic(&mut w);
    let at = w.pos();
    w.ss(&[")", "type", "regular"]);
    cases.push(case(
        "node does not start with '('",
        w.buf,
        "expected '('",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w).s("(");
    let at = w.pos();
    w.ss(&["tipe", "regular"]);
    cases.push(case(
        "misspelt 'type'",
        w.buf,
        "expected 'type'",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type"]);
    let at = w.pos();
    w.ss(&["fifo", ")"]);
    cases.push(case(
        "unknown node type",
        w.buf,
        "unknown node type 'fifo'",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type"]);
    let at = w.pos();
    w.num(u64::MAX);
    cases.push(case(
        "node type of absurd length",
        w.buf,
        "node type has length 18446744073709551615",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w).s("(");
    let at = w.pos();
    w.num(4).raw(b"type").raw(&[0, 0, 0, 1]);
    cases.push(case(
        "non-zero padding after a token",
        w.buf,
        "non-zero padding",
        At::Byte(at + 12),
    ));

    // Regular files.
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type", "regular"]);
    let at = w.pos();
    w.ss(&["data", "x", ")"]);
    cases.push(case(
        "file without 'contents'",
        w.buf,
        "expected 'contents'",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type", "regular", "executable"]);
    let at = w.pos();
    w.ss(&["yes", "contents", "x", ")"]);
    cases.push(case(
        "'executable' with a value",
        w.buf,
        "expected '' after 'executable'",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type", "regular", "contents"]);
    w.num(u64::MAX).raw(b"some data");
    cases.push(case(
        "file of absurd size",
        w.buf,
        "NAR ends early",
        At::End,
    ));
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type", "regular", "contents"]);
    w.num(3).raw(b"abc");
    let at = w.pos();
    w.raw(&[0, 0, 0, 0, 9]).s(")");
    cases.push(case(
        "non-zero padding after file contents",
        w.buf,
        "non-zero padding after contents",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type", "regular", "contents", "x"]);
    let at = w.pos();
    w.ss(&["executable", ""]).s(")");
    cases.push(case(
        "field after contents",
        w.buf,
        "expected ')' at the end of a regular file",
        At::Byte(at),
    ));

    // Symlinks.
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type", "symlink", "target"]);
    let at = w.pos();
    w.s("").s(")");
    cases.push(case(
        "empty symlink target",
        w.buf,
        "symlink target is empty",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type", "symlink", "target"]);
    let at = w.pos();
    w.s(b"a\0b").s(")");
    cases.push(case(
        "symlink target with NUL",
        w.buf,
        "symlink target contains a NUL byte",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type", "symlink", "target"]);
    let at = w.pos();
    w.num(u64::MAX).raw(b"target");
    cases.push(case(
        "symlink target of absurd length",
        w.buf,
        "symlink target has length 18446744073709551615",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type", "symlink"]);
    let at = w.pos();
    w.ss(&["destination", "a", ")"]);
    cases.push(case(
        "symlink without 'target'",
        w.buf,
        "expected 'target'",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w).ss(&["(", "type", "symlink", "target", "a"]);
    let at = w.pos();
    w.ss(&["target", "b", ")"]);
    cases.push(case(
        "symlink with two targets",
        w.buf,
        "expected ')' at the end of a symlink",
        At::Byte(at),
    ));

    // Directory entries.
    let bad_names: [(&str, &[u8], &str); 8] = [
        ("entry named '.'", b".", "entry name '.'"),
        ("entry named '..'", b"..", "entry name '..'"),
        ("entry name with '/'", b"a/b", "contains '/'"),
        (
            "entry name that is an absolute path",
            b"/etc",
            "contains '/'",
        ),
        ("entry name with NUL", b"a\0b", "contains a NUL byte"),
        ("empty entry name", b"", "empty entry name"),
        (
            "entry name of 256 bytes",
            &[b'n'; 256],
            "entry name has length 256, more than the 255 bytes allowed",
        ),
        ("entry name '../escape'", b"../escape", "contains '/'"),
    ];
    for (name, bad, msg) in bad_names {
        let mut w = Wire::new();
        magic(&mut w);
        dir_start(&mut w);
        file_entry(&mut w, b"0-first");
        let at = file_entry(&mut w, bad);
        dir_end(&mut w);
        cases.push(case(name, w.buf, msg, At::Byte(at)));
    }
    let mut w = Wire::new();
    magic(&mut w);
    dir_start(&mut w);
    w.ss(&["entry", "(", "name"]);
    let at = w.pos();
    w.num(u64::MAX).raw(b"name");
    cases.push(case(
        "entry name of absurd length",
        w.buf,
        "entry name has length 18446744073709551615",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w);
    dir_start(&mut w);
    w.ss(&["entry", "(", "name"]);
    w.num(3).raw(b"abc");
    let at = w.pos();
    w.raw(&[0, 0, 0, 0, 1]).s("node");
    file(&mut w, false, b"x");
    entry_end(&mut w);
    dir_end(&mut w);
    cases.push(case(
        "non-zero padding after an entry name",
        w.buf,
        "non-zero padding after entry name",
        At::Byte(at),
    ));
    for (name, first, second, msg) in [
        (
            "entries out of order",
            &b"b"[..],
            &b"a"[..],
            "entries are not sorted",
        ),
        // Bytewise, 'B' < 'a'; a locale's collation puts them the other way round.
        (
            "entries in locale order",
            b"a",
            b"B",
            "entries are not sorted",
        ),
        (
            "entries in locale order (underscore)",
            b"a",
            b"_",
            "entries are not sorted",
        ),
        ("duplicate entries", b"a", b"a", "duplicate entry 'a'"),
    ] {
        let mut w = Wire::new();
        magic(&mut w);
        dir_start(&mut w);
        file_entry(&mut w, first);
        let at = file_entry(&mut w, second);
        dir_end(&mut w);
        cases.push(case(name, w.buf, msg, At::Byte(at)));
    }
    let mut w = Wire::new();
    magic(&mut w);
    dir_start(&mut w);
    file_entry(&mut w, b"a");
    let at = w.pos();
    w.ss(&["entri", "(", "name", "b"]);
    cases.push(case(
        "misspelt 'entry'",
        w.buf,
        "expected 'entry' or ')'",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w);
    dir_start(&mut w);
    w.ss(&["entry", "(", "name", "a"]);
    let at = w.pos();
    w.s("nod");
    file(&mut w, false, b"x");
    cases.push(case(
        "misspelt 'node'",
        w.buf,
        "expected 'node'",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w);
    dir_start(&mut w);
    w.ss(&["entry", "("]);
    let at = w.pos();
    w.ss(&["node", "a"]);
    cases.push(case(
        "entry without a name",
        w.buf,
        "expected 'name'",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    magic(&mut w);
    dir_start(&mut w);
    entry_start(&mut w, b"a");
    file(&mut w, false, b"x");
    let at = w.pos();
    w.ss(&["entry", "(", "name", "b"]);
    cases.push(case(
        "entry not closed",
        w.buf,
        "expected ')' at the end of a directory entry",
        At::Byte(at),
    ));

    // Nesting far deeper than any file system path allows. Restoring it must fail either at
    // the parser's depth limit or when the path gets too long, and clean up either way.
    let mut w = Wire::new();
    magic(&mut w);
    let depth = 10_000;
    for _ in 0..depth {
        dir_start(&mut w);
        entry_start(&mut w, b"d");
    }
    file(&mut w, false, b"bottom");
    for _ in 0..depth {
        entry_end(&mut w);
        dir_end(&mut w);
    }
    cases.push(Case {
        name: "absurd nesting depth".to_owned(),
        input: w.buf,
        message: vec![
            "nested more than".to_owned(),
            "File name too long".to_owned(),
        ],
        at: At::Unknown,
        in_stream: true,
    });

    // After the archive.
    let base = base_nar();
    for (name, extra) in [
        ("trailing garbage", &b"garbage!"[..]),
        ("one trailing byte", &b"\0"[..]),
        ("a second archive", &base[..]),
    ] {
        let mut input = base.clone();
        input.extend_from_slice(extra);
        cases.push(Case {
            name: name.to_owned(),
            input,
            message: vec!["trailing data after the end of the archive".to_owned()],
            at: At::Unknown,
            in_stream: false,
        });
    }
    let mut w = Wire::new();
    w.raw(&base).s(")");
    cases.push(Case {
        name: "extra ')' after the root".to_owned(),
        input: w.buf,
        message: vec!["trailing data".to_owned()],
        at: At::Unknown,
        in_stream: false,
    });

    cases
}

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
        let at = match c.at {
            At::Byte(n) => Some(n),
            At::End => Some(c.input.len() as u64),
            At::Unknown => None,
        };
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

/// A well-formed store path that no store holds.
fn fake_path(n: u32, name: &str) -> String {
    format!("/nix/store/{n:0>32}-{name}")
}

/// Appends one record: marker, archive, magic, path, references, deriver, signature flag.
fn record(w: &mut Wire, nar: &[u8], path: &str, refs: &[&str]) {
    w.num(1)
        .raw(nar)
        .num(EXPORT_MAGIC)
        .s(path)
        .num(refs.len() as u64);
    for r in refs {
        w.s(r);
    }
    w.s("").num(0);
}

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
        let at = match c.at {
            At::Byte(n) => Some(n + 8),
            At::End => Some(w.buf.len() as u64),
            At::Unknown => None,
        };
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

/// Malformed streams, each with what the error must say.
fn stream_corpus(store: &Store) -> Vec<Case> {
    let good = base_nar();
    let one = fake_path(1, "one");
    let two = fake_path(2, "two");
    let mut cases = Vec::new();
    let s = |name: &str, w: Wire, message: &str, at: At| case(name, w.buf, message, at);

    cases.push(s(
        "empty stream",
        Wire::new(),
        "stream ends early while reading the record marker",
        At::Byte(0),
    ));
    let mut w = Wire::new();
    w.num(2);
    cases.push(s(
        "bad record marker",
        w,
        "expected record marker 0 or 1, found 2",
        At::Byte(0),
    ));
    let mut w = Wire::new();
    w.raw(b"NIXE\0\0\0\0");
    cases.push(s(
        "text instead of a marker",
        w,
        "expected record marker 0 or 1",
        At::Byte(0),
    ));
    let mut w = Wire::new();
    w.num(u64::MAX);
    cases.push(s(
        "absurd record marker",
        w,
        "found 18446744073709551615",
        At::Byte(0),
    ));

    // The metadata after the archive.
    let mut w = Wire::new();
    w.num(1).raw(&good);
    let at = w.pos();
    w.num(EXPORT_MAGIC + 1).s(&one).num(0).s("").num(0).num(0);
    cases.push(s(
        "bad export magic",
        w,
        "expected the export magic 0x4558494e after the archive, found 0x4558494f",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    w.num(1).raw(&good);
    let at = w.pos();
    w.num(0);
    cases.push(s(
        "no export magic",
        w,
        "expected the export magic",
        At::Byte(at),
    ));
    for (name, path, msg) in [
        (
            "path outside the store",
            "/tmp/00000000000000000000000000000001-one",
            "bad path",
        ),
        (
            "path in another store",
            "/gnu/store/00000000000000000000000000000001-one",
            "bad path",
        ),
        (
            "relative path",
            "00000000000000000000000000000001-one",
            "bad path",
        ),
        ("path with a short hash", "/nix/store/0001-one", "bad path"),
        (
            "path with a bad name",
            "/nix/store/00000000000000000000000000000001-a b",
            "bad path",
        ),
        ("empty path", "", "bad path"),
    ] {
        let mut w = Wire::new();
        w.num(1).raw(&good).num(EXPORT_MAGIC);
        let at = w.pos();
        w.s(path).num(0).s("").num(0).num(0);
        cases.push(s(name, w, msg, At::Byte(at)));
    }
    let mut w = Wire::new();
    w.num(1).raw(&good).num(EXPORT_MAGIC);
    let at = w.pos();
    w.s(b"/nix/store/00000000000000000000000000000001-\xff")
        .num(0)
        .s("")
        .num(0)
        .num(0);
    cases.push(s(
        "path that is not UTF-8",
        w,
        "path is not UTF-8",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    w.num(1).raw(&good).num(EXPORT_MAGIC);
    let at = w.pos();
    w.num(u64::MAX).raw(one.as_bytes());
    cases.push(s(
        "path of absurd length",
        w,
        "path has length 18446744073709551615",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    w.num(1).raw(&good).num(EXPORT_MAGIC);
    w.num(one.len() as u64).raw(one.as_bytes());
    let at = w.pos();
    let pad = (8 - one.len() % 8) % 8;
    assert!(pad > 0, "the fake path needs padding for this case");
    let mut padding = vec![0u8; pad];
    padding[pad - 1] = 0xff;
    w.raw(&padding).num(0).s("").num(0).num(0);
    cases.push(s(
        "non-zero padding after the path",
        w,
        "non-zero padding after the path",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    w.num(1).raw(&good).num(EXPORT_MAGIC).s(&one);
    let at = w.pos();
    w.num(u64::MAX);
    cases.push(s(
        "absurd reference count",
        w,
        "reference count 18446744073709551615 is absurd",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    record(&mut w, &good, &one, &[&fake_path(99, "missing")]);
    w.num(0);
    cases.push(s(
        "reference to a path that is neither valid nor in the stream",
        w,
        &format!(
            "refers to '{}', which is not valid",
            fake_path(99, "missing")
        ),
        At::Unknown,
    ));
    let mut w = Wire::new();
    record(&mut w, &good, &one, &[&two]);
    record(&mut w, &small_nar(b"2"), &two, &[]);
    w.num(0);
    cases.push(s(
        "reference to a path later in the stream",
        w,
        &format!("'{one}' refers to '{two}', which is not valid"),
        At::Unknown,
    ));
    let mut w = Wire::new();
    w.num(1).raw(&good).num(EXPORT_MAGIC).s(&one).num(1);
    let at = w.pos();
    w.s("/nix/store/not-a-path").s("").num(0).num(0);
    cases.push(s("malformed reference", w, "bad reference", At::Byte(at)));
    let mut w = Wire::new();
    w.num(1).raw(&good).num(EXPORT_MAGIC).s(&one).num(0);
    let at = w.pos();
    w.s("not-a-derivation").num(0).num(0);
    cases.push(s("malformed deriver", w, "bad deriver", At::Byte(at)));
    let mut w = Wire::new();
    w.num(1).raw(&good).num(EXPORT_MAGIC).s(&one).num(0).s("");
    let at = w.pos();
    w.num(2).num(0);
    cases.push(s(
        "bad signature flag",
        w,
        "expected signature flag 0 or 1, found 2",
        At::Byte(at),
    ));
    let mut w = Wire::new();
    w.num(1)
        .raw(&good)
        .num(EXPORT_MAGIC)
        .s(&one)
        .num(0)
        .s("")
        .num(1);
    let at = w.pos();
    w.num(u64::MAX);
    cases.push(s(
        "legacy signature of absurd length",
        w,
        "legacy signature has length 18446744073709551615",
        At::Byte(at),
    ));

    // A good first record, then a bad one: nothing of the first may stay behind.
    let mut prefix = Wire::new();
    record(&mut prefix, &good, &one, &[&store.known[1]]);
    let second = prefix.pos();
    let mut w = prefix.clone();
    w.num(1).raw(&base_nar()[..40]);
    cases.push(s(
        "good record, then a truncated archive",
        w,
        "NAR ends early",
        At::End,
    ));
    let mut w = prefix.clone();
    w.num(1);
    let mut nar = Wire::new();
    magic(&mut nar).ss(&["(", "type"]);
    let at = second + 8 + nar.pos();
    nar.ss(&["device", ")"]);
    w.raw(&nar.buf)
        .num(EXPORT_MAGIC)
        .s(&two)
        .num(0)
        .s("")
        .num(0)
        .num(0);
    cases.push(s(
        "good record, then an archive with an unknown node type",
        w,
        "unknown node type 'device'",
        At::Byte(at),
    ));
    let mut w = prefix.clone();
    w.num(1).raw(&small_nar(b"2"));
    let at = w.pos();
    w.num(0xdead_beef).s(&two).num(0).s("").num(0).num(0);
    cases.push(s(
        "good record, then bad export magic",
        w,
        "expected the export magic",
        At::Byte(at),
    ));
    let mut w = prefix.clone();
    record(&mut w, &small_nar(b"2"), &two, &[&fake_path(98, "gone")]);
    w.num(0);
    cases.push(s(
        "good record, then a reference to a missing path",
        w,
        "which is not valid",
        At::Unknown,
    ));
    let mut w = prefix.clone();
    let at = w.pos();
    w.num(3);
    cases.push(s(
        "good record, then a bad marker",
        w,
        "expected record marker 0 or 1, found 3",
        At::Byte(at),
    ));
    let mut w = prefix.clone();
    record(&mut w, &small_nar(b"again"), &one, &[]);
    w.num(0);
    cases.push(s(
        "the same path twice",
        w,
        &format!("path '{one}' appears twice in the stream"),
        At::Unknown,
    ));
    let mut w = prefix.clone();
    record(&mut w, &small_nar(b"x"), &store.known[0], &[]);
    w.num(1).raw(b"junk");
    cases.push(s(
        "good record, a record of a valid path, then junk",
        w,
        "ends early",
        At::Unknown,
    ));
    let w = prefix.clone();
    let at = w.pos();
    cases.push(s(
        "good record, then no end marker",
        w,
        "stream ends early while reading the record marker",
        At::Byte(at),
    ));

    // After the end.
    for (name, extra) in [
        ("trailing garbage", &b"garbage"[..]),
        ("one trailing byte", &[0u8][..]),
        ("a second end marker", &[0u8; 8][..]),
    ] {
        let mut w = prefix.clone();
        w.num(0);
        let at = w.pos();
        w.raw(extra);
        cases.push(s(
            &format!("stream followed by {name}"),
            w,
            "trailing data after the end of the stream",
            At::Byte(at),
        ));
    }
    let mut w = prefix.clone();
    w.num(0);
    let at = w.pos();
    record(&mut w, &small_nar(b"2"), &two, &[]);
    w.num(0);
    cases.push(s(
        "a record after the end marker",
        w,
        "trailing data after the end of the stream",
        At::Byte(at),
    ));
    cases
}

#[test]
fn import_refuses_malformed_streams() {
    let store = Store::new();
    let before = Snapshot::take(&store, true);
    for c in stream_corpus(&store) {
        let at = match c.at {
            At::Byte(n) => Some(n),
            At::End => Some(c.input.len() as u64),
            At::Unknown => None,
        };
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
