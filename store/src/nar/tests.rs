use super::*;

fn tok(out: &mut Vec<u8>, t: &[u8]) {
    wire::write_bytes(out, t).expect("vec write");
}

/// Builds archive bytes from a token list; `None` stands for raw bytes already framed.
fn nar(tokens: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for t in tokens {
        tok(&mut v, t);
    }
    v
}

#[test]
fn dump_restore_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("sub/deeper")).expect("mkdir");
    fs::write(src.join("a"), b"hello").expect("write");
    fs::write(src.join("sub/exe"), b"#!/bin/sh\n").expect("write");
    fs::set_permissions(src.join("sub/exe"), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("../a", src.join("sub/link")).expect("symlink");
    fs::write(src.join("sub/deeper/empty"), b"").expect("write");
    let mut bytes = Vec::new();
    dump(&src, &mut bytes).expect("dump");
    let dest = dir.path().join("dest");
    restore(&bytes[..], &dest).expect("restore");
    let mut again = Vec::new();
    dump(&dest, &mut again).expect("dump");
    assert_eq!(bytes, again);
    assert_eq!(
        fs::read_link(dest.join("sub/link")).expect("link").to_str(),
        Some("../a")
    );
    assert!(fs::metadata(dest.join("sub/exe")).expect("exe").mode() & 0o111 != 0);
}

#[test]
fn single_file_archive_is_exactly_nix_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("f");
    fs::write(&f, b"abc").expect("write");
    let mut bytes = Vec::new();
    dump(&f, &mut bytes).expect("dump");
    let mut want = nar(&[MAGIC, b"(", b"type", b"regular", b"contents"]);
    want.extend_from_slice(&3u64.to_le_bytes());
    want.extend_from_slice(b"abc\0\0\0\0\0");
    tok(&mut want, b")");
    assert_eq!(bytes, want);
}

fn parse_err(bytes: &[u8]) -> NarError {
    match NarParser::new(bytes).parse(&mut Validate) {
        Ok(()) => panic!("malformed archive accepted"),
        Err(e) => e,
    }
}

fn dir_with(names: &[&[u8]]) -> Vec<u8> {
    let mut v = nar(&[MAGIC, b"(", b"type", b"directory"]);
    for n in names {
        v.extend(nar(&[
            b"entry", b"(", b"name", n, b"node", b"(", b"type", b"symlink", b"target", b"x", b")",
            b")",
        ]));
    }
    tok(&mut v, b")");
    v
}

#[test]
fn well_formed_directory_parses() {
    let bytes = dir_with(&[b"a", b"b"]);
    NarParser::new(&bytes[..])
        .parse(&mut Validate)
        .expect("valid");
}

#[test]
fn rejects_unsorted_duplicate_and_bad_names() {
    let cases: &[(&[&[u8]], &str)] = &[
        (&[b"b", b"a"], "not sorted"),
        (&[b"a", b"a"], "duplicate entry"),
        (&[b"."], "entry name '.'"),
        (&[b".."], "entry name '..'"),
        (&[b"a/b"], "contains '/'"),
        (&[b"a\0b"], "NUL"),
        (&[b""], "empty entry name"),
    ];
    for (names, want) in cases {
        let e = parse_err(&dir_with(names));
        let msg = e.to_string();
        assert!(msg.contains(want), "{names:?}: {msg}");
        assert!(e.offset().is_some(), "{msg}");
    }
}

#[test]
fn rejects_bad_magic_padding_truncation_and_lengths() {
    let e = parse_err(&nar(&[b"nix-archive-2"]));
    assert!(e.to_string().contains("bad magic"), "{e}");

    let mut bad_pad = nar(&[MAGIC, b"(", b"type", b"regular", b"contents"]);
    bad_pad.extend_from_slice(&3u64.to_le_bytes());
    bad_pad.extend_from_slice(b"abc\0\0\x01\0\0");
    tok(&mut bad_pad, b")");
    let e = parse_err(&bad_pad);
    assert!(e.to_string().contains("non-zero padding"), "{e}");
    let good_len = bad_pad.len();

    let mut trunc = nar(&[MAGIC, b"(", b"type", b"regular", b"contents"]);
    trunc.extend_from_slice(&100u64.to_le_bytes());
    trunc.extend_from_slice(b"abc");
    let e = parse_err(&trunc);
    assert!(matches!(e, NarError::Truncated { .. }), "{e}");

    let mut absurd = nar(&[MAGIC, b"(", b"type"]);
    absurd.extend_from_slice(&u64::MAX.to_le_bytes());
    let e = parse_err(&absurd);
    assert!(e.to_string().contains("more than"), "{e}");
    assert_eq!(e.offset(), Some(absurd.len() as u64 - 8));

    let e = parse_err(&nar(&[MAGIC, b"(", b"type", b"fifo", b")"]));
    assert!(e.to_string().contains("unknown node type"), "{e}");
    assert!(good_len > 0);
}

#[test]
fn rejects_excessive_depth() {
    let mut v = nar(&[MAGIC]);
    for _ in 0..=MAX_DEPTH {
        v.extend(nar(&[
            b"(",
            b"type",
            b"directory",
            b"entry",
            b"(",
            b"name",
            b"d",
            b"node",
        ]));
    }
    let e = parse_err(&v);
    assert!(e.to_string().contains("nested more than"), "{e}");
}

#[test]
fn every_truncation_of_a_valid_archive_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("t");
    fs::create_dir_all(src.join("d")).expect("mkdir");
    fs::write(src.join("d/f"), b"0123456789").expect("write");
    std::os::unix::fs::symlink("f", src.join("d/l")).expect("symlink");
    let mut bytes = Vec::new();
    dump(&src, &mut bytes).expect("dump");
    for cut in 0..bytes.len() {
        assert!(
            NarParser::new(&bytes[..cut]).parse(&mut Validate).is_err(),
            "cut at {cut}"
        );
    }
    NarParser::new(&bytes[..])
        .parse(&mut Validate)
        .expect("whole archive");
}

#[test]
fn symlink_target_must_be_sane() {
    let e = parse_err(&nar(&[
        MAGIC, b"(", b"type", b"symlink", b"target", b"", b")",
    ]));
    assert!(e.to_string().contains("empty"), "{e}");
    let e = parse_err(&nar(&[
        MAGIC, b"(", b"type", b"symlink", b"target", b"a\0b", b")",
    ]));
    assert!(e.to_string().contains("NUL"), "{e}");
}

proptest::proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let mut v = nar(&[MAGIC]);
        v.extend(data);
        let _ = NarParser::new(&v[..]).parse(&mut Validate);
    }
}
