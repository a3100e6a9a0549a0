//! The corpus of malformed NARs and export streams, with what each error must say and
//! where: the store's own tests feed it to the library (`nar::restore`, `LocalStore::import`),
//! and the CLI's tests include this same file (`#[path]`) to feed it to `strata store
//! restore` / `import`. The framing is written independently of the library.
#![allow(dead_code)]

pub const EXPORT_MAGIC: u64 = 0x4558_494e;

/// Framing of NARs and export streams, written independently of the library: a u64 in
/// little-endian, and strings as their length, their bytes and zero padding to 8.
#[derive(Debug, Default, Clone)]
pub struct Wire {
    pub buf: Vec<u8>,
}

impl Wire {
    pub fn new() -> Self {
        Wire::default()
    }

    /// The offset the next token will be written at.
    pub fn pos(&self) -> u64 {
        self.buf.len() as u64
    }

    pub fn num(&mut self, n: u64) -> &mut Self {
        self.buf.extend_from_slice(&n.to_le_bytes());
        self
    }

    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    pub fn s(&mut self, b: impl AsRef<[u8]>) -> &mut Self {
        let b = b.as_ref();
        self.num(b.len() as u64);
        self.buf.extend_from_slice(b);
        let pad = (8 - b.len() % 8) % 8;
        self.buf.extend_from_slice(&[0u8; 8][..pad]);
        self
    }

    /// Several string tokens.
    pub fn ss(&mut self, toks: &[&str]) -> &mut Self {
        for t in toks {
            self.s(t);
        }
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Writing NARs token by token

pub fn magic(w: &mut Wire) -> &mut Wire {
    w.s("nix-archive-1")
}

pub fn file(w: &mut Wire, executable: bool, contents: &[u8]) {
    w.ss(&["(", "type", "regular"]);
    if executable {
        w.ss(&["executable", ""]);
    }
    w.s("contents").s(contents).s(")");
}

pub fn link(w: &mut Wire, target: &[u8]) {
    w.ss(&["(", "type", "symlink", "target"]).s(target).s(")");
}

pub fn dir_start(w: &mut Wire) {
    w.ss(&["(", "type", "directory"]);
}

/// Writes `entry ( name NAME node` and returns the offset of the name token.
pub fn entry_start(w: &mut Wire, name: &[u8]) -> u64 {
    w.ss(&["entry", "(", "name"]);
    let at = w.pos();
    w.s(name).s("node");
    at
}

pub fn entry_end(w: &mut Wire) {
    w.s(")");
}

pub fn dir_end(w: &mut Wire) {
    w.s(")");
}

/// A directory entry holding a small file.
pub fn file_entry(w: &mut Wire, name: &[u8]) -> u64 {
    let at = entry_start(w, name);
    file(w, false, b"data");
    entry_end(w);
    at
}

/// The valid archive most cases are variations of: files (one executable, one empty), a
/// symlink, a nested directory.
pub fn base_nar() -> Vec<u8> {
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
pub fn small_nar(contents: &[u8]) -> Vec<u8> {
    let mut w = Wire::new();
    magic(&mut w);
    file(&mut w, false, contents);
    w.buf
}

/// Where the error is expected.
#[derive(Debug, Clone, Copy)]
pub enum At {
    /// At this offset in the archive (shifted when the archive is inside a stream).
    Byte(u64),
    /// At the end of whatever input the tool was given.
    End,
    /// The library gives no offset for this problem.
    Unknown,
}

impl At {
    /// The byte offset the error must name: for an archive placed `shift` bytes into an input
    /// of `len` bytes. `None` when no offset is expected.
    pub fn offset(self, shift: u64, len: usize) -> Option<u64> {
        match self {
            At::Byte(n) => Some(n + shift),
            At::End => Some(len as u64),
            At::Unknown => None,
        }
    }
}

#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub input: Vec<u8>,
    /// Each must appear in the error message (any one of them, for alternatives).
    pub message: Vec<String>,
    pub at: At,
    /// Whether the case is about the archive itself, so that it is also malformed inside an
    /// export stream (trailing data after an archive is not, there).
    pub in_stream: bool,
}

pub fn case(name: &str, input: Vec<u8>, message: &str, at: At) -> Case {
    Case {
        name: name.to_owned(),
        input,
        message: vec![message.to_owned()],
        at,
        in_stream: true,
    }
}

/// Malformed archives, each with what the error must say.
pub fn nar_corpus() -> Vec<Case> {
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

/// A well-formed store path that no store holds.
pub fn fake_path(n: u32, name: &str) -> String {
    format!("/nix/store/{n:0>32}-{name}")
}

/// Appends one record: marker, archive, magic, path, references, deriver, signature flag.
pub fn record(w: &mut Wire, nar: &[u8], path: &str, refs: &[&str]) {
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

/// Malformed streams, each with what the error must say; `known` are two paths valid in the
/// store they are imported into, the second referring to the first.
pub fn stream_corpus(known: &[String]) -> Vec<Case> {
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
    record(&mut prefix, &good, &one, &[&known[1]]);
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
    record(&mut w, &small_nar(b"x"), &known[0], &[]);
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
