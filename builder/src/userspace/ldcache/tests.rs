//! Tests of the loader cache: the order, the bytes, the configuration, and a scan of copies
//! of this host's libraries. (The comparison with `ldconfig` itself is in the builder's
//! integration tests.)

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::symlink;

use super::*;

#[test]
fn libcmp_compares_digit_runs_as_numbers() {
    assert_eq!(libcmp(b"libfoo.so.10", b"libfoo.so.9"), Ordering::Greater);
    assert_eq!(libcmp(b"libfoo.so.9", b"libfoo.so.10"), Ordering::Less);
    assert_eq!(libcmp(b"libfoo.so.09", b"libfoo.so.9"), Ordering::Equal);
    assert_eq!(libcmp(b"libfoo.so.1", b"libfoo.so.1"), Ordering::Equal);
    // A digit sorts after any other character.
    assert_eq!(libcmp(b"libz3.so", b"libzstd.so"), Ordering::Greater);
    assert_eq!(libcmp(b"libz.so", b"libzstd.so"), Ordering::Less);
    // A longer name sorts after its prefix.
    assert_eq!(libcmp(b"libz3.so.4", b"libz3.so"), Ordering::Greater);
    assert_eq!(libcmp(b"libz3.so", b"libz3.so.4"), Ordering::Less);
}

fn entry(key: &str, dir: &str) -> Entry {
    Entry {
        key: key.as_bytes().to_vec(),
        path: format!("{dir}/{key}").into_bytes(),
        flags: FLAGS_X86_64,
    }
}

#[test]
fn the_file_layout_is_glibcs() {
    let entries = [entry("libfoo.so.10", "/lib"), entry("libfoo.so.9", "/lib")];
    let bytes = write(&entries);
    // Header: magic and version, counts, little-endian flag, the extension's offset.
    assert_eq!(&bytes[..20], b"glibc-ld.so.cache1.1");
    assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 2);
    let strings = b"/lib/libfoo.so.10\0/lib/libfoo.so.9\0";
    assert_eq!(
        u32::from_le_bytes(bytes[24..28].try_into().unwrap()) as usize,
        strings.len()
    );
    assert_eq!(bytes[28], 2);
    assert_eq!(&bytes[29..32], &[0, 0, 0]);
    let ext = u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize;
    assert_eq!(ext % 4, 0);
    assert_eq!(&bytes[36..48], &[0; 12]);
    // Entries: flags, key and value offsets (keys share their path's tail), zeros.
    let start = 48 + 2 * 24;
    assert_eq!(&bytes[48..52], &0x0303i32.to_le_bytes());
    let key0 = u32::from_le_bytes(bytes[52..56].try_into().unwrap()) as usize;
    let value0 = u32::from_le_bytes(bytes[56..60].try_into().unwrap()) as usize;
    assert_eq!(value0, start);
    assert_eq!(key0, start + "/lib/".len());
    assert_eq!(&bytes[60..72], &[0; 12]);
    let value1 = u32::from_le_bytes(bytes[80..84].try_into().unwrap()) as usize;
    assert_eq!(value1, start + "/lib/libfoo.so.10\0".len());
    assert_eq!(&bytes[start..start + strings.len()], strings);
    // The extension: magic, one section, the generator.
    assert_eq!(&bytes[ext..ext + 4], &EXTENSION_MAGIC.to_le_bytes());
    assert_eq!(&bytes[ext + 4..ext + 8], &1u32.to_le_bytes());
    assert_eq!(&bytes[ext + 8..ext + 12], &0u32.to_le_bytes());
    assert_eq!(
        &bytes[bytes.len() - GENERATOR.len()..],
        GENERATOR.as_bytes()
    );
    assert_eq!(
        parse(&bytes).unwrap(),
        [
            (b"libfoo.so.10".to_vec(), b"/lib/libfoo.so.10".to_vec()),
            (b"libfoo.so.9".to_vec(), b"/lib/libfoo.so.9".to_vec())
        ]
    );
    assert_eq!(parse(b"not a cache"), None);
    assert_eq!(parse(&bytes[..60]), None);
}

#[test]
fn globs_match_like_the_shell() {
    assert!(glob_match(b"*.conf", b"libc.conf"));
    assert!(!glob_match(b"*.conf", b"libc.conf.bak"));
    assert!(glob_match(b"x86_64-*.conf", b"x86_64-linux-gnu.conf"));
    assert!(glob_match(b"?.conf", b"a.conf"));
    assert!(!glob_match(b"?.conf", b"ab.conf"));
    assert!(glob_match(b"[a-c]*", b"bz"));
    assert!(!glob_match(b"[!a-c]*", b"bz"));
    assert!(glob_match(b"*", b""));
}

fn write_file(root: &Path, p: &str, text: &str) {
    let full = root.join(p);
    fs::create_dir_all(full.parent().unwrap()).unwrap();
    fs::write(full, text).unwrap();
}

#[test]
fn ld_so_conf_includes_are_expanded_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_file(
        root,
        "etc/ld.so.conf",
        "# comment\ninclude /etc/ld.so.conf.d/*.conf\n/opt/last/\n",
    );
    write_file(root, "etc/ld.so.conf.d/b.conf", "/usr/b\n");
    write_file(
        root,
        "etc/ld.so.conf.d/a.conf",
        "/usr/a1\n  /usr/a2  # two\nhwcap 0 x\n",
    );
    write_file(root, "etc/ld.so.conf.d/README", "/not/read\n");
    let dirs = read_conf(root, "/extra\n").unwrap();
    assert_eq!(
        dirs,
        ["/usr/a1", "/usr/a2", "/usr/b", "/opt/last", "/extra"]
    );
    let err = read_conf(root, "relative/dir\n").unwrap_err().to_string();
    assert_eq!(
        err,
        "extraLdSoConf: \"relative/dir\" is not an absolute directory"
    );
    // An include loop ends in an error.
    write_file(root, "etc/ld.so.conf.d/b.conf", "include /etc/ld.so.conf\n");
    let err = read_conf(root, "").unwrap_err().to_string();
    assert!(err.contains("includes nest deeper than 16"), "{err}");
}

#[test]
fn scan_keys_sonames_and_development_links() {
    let host = Path::new("/usr/lib/x86_64-linux-gnu");
    let Ok(real) = fs::canonicalize(host.join("libz.so.1")) else {
        eprintln!("skipped: this host has no libz.so.1");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let lib = root.join("usr/lib/x86_64-linux-gnu");
    fs::create_dir_all(&lib).unwrap();
    symlink("usr/lib", root.join("lib")).unwrap();
    fs::copy(&real, lib.join("libz.so.1.2.3")).unwrap();
    symlink("libz.so.1.2.3", lib.join("libz.so.1")).unwrap();
    symlink("libz.so.1.2.3", lib.join("libz.so")).unwrap(); // a development link
    symlink("libz.so.1.2.3", lib.join("libzz.so.2")).unwrap(); // just another name
    symlink("missing.so.1", lib.join("libgone.so.1")).unwrap(); // dangling
    fs::write(lib.join("libc.so"), "/* GNU ld script */\n").unwrap(); // not ELF
    fs::copy(&real, root.join("usr/lib/libnolink.so.7.0")).unwrap(); // soname link missing
    let mut log = Vec::new();
    let cache = scan(root, &[], &mut log).unwrap();
    let shown: Vec<(String, String)> = cache
        .entries
        .iter()
        .map(|e| {
            (
                String::from_utf8(e.key.clone()).unwrap(),
                String::from_utf8(e.path.clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("libz.so.1".into(), "/lib/x86_64-linux-gnu/libz.so.1".into()),
            ("libz.so".into(), "/lib/x86_64-linux-gnu/libz.so".into()),
        ]
    );
    let dirs: Vec<&str> = cache.dirs.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(dirs, ["/lib/x86_64-linux-gnu", "/lib"]);
    let log = String::from_utf8(log).unwrap();
    assert!(
        log.contains("ld.so.cache: /lib/libz.so.1 is not cached: no file or link of that name"),
        "{log}"
    );
}
