//! Tests of `.deb` unpacking: real packages built by dpkg-deb, the cached Debian packages, and
//! crafted archives that break each rule.

use super::*;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

/// An `ar` archive with GNU-style member names.
fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = AR_MAGIC.to_vec();
    for (name, data) in members {
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            format!("{name}/"),
            0,
            0,
            0,
            "100644",
            data.len()
        );
        assert_eq!(header.len(), 60);
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

/// One entry of a hand-made tar: its raw path is written as is, unchecked.
struct RawEntry<'a> {
    path: &'a str,
    kind: tar::EntryType,
    link: &'a str,
    data: &'a [u8],
    mode: u32,
}

fn file<'a>(path: &'a str, data: &'a [u8], mode: u32) -> RawEntry<'a> {
    RawEntry {
        path,
        kind: tar::EntryType::Regular,
        link: "",
        data,
        mode,
    }
}

fn link<'a>(path: &'a str, kind: tar::EntryType, target: &'a str) -> RawEntry<'a> {
    RawEntry {
        path,
        kind,
        link: target,
        data: b"",
        mode: 0o777,
    }
}

fn dir(path: &str, mode: u32) -> RawEntry<'_> {
    RawEntry {
        path,
        kind: tar::EntryType::Directory,
        link: "",
        data: b"",
        mode,
    }
}

fn raw_tar(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let old = header.as_old_mut();
        old.name[..entry.path.len()].copy_from_slice(entry.path.as_bytes());
        old.linkname[..entry.link.len()].copy_from_slice(entry.link.as_bytes());
        header.set_entry_type(entry.kind);
        header.set_size(entry.data.len() as u64);
        header.set_mode(entry.mode);
        header.set_mtime(0);
        header.set_cksum();
        builder.append(&header, entry.data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

const CONTROL: &str = "Package: crafted\nVersion: 1.0\nArchitecture: all\n\
                       Description: a hand-made package\n";

fn control_tar_gz(control: &str) -> Vec<u8> {
    gzip(&raw_tar(&[
        dir("./", 0o755),
        file("./control", control.as_bytes(), 0o644),
    ]))
}

/// A .deb around `data_tar` (an uncompressed `data.tar`).
fn crafted_deb(data_tar: &[u8]) -> Vec<u8> {
    ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &control_tar_gz(CONTROL)),
        ("data.tar", data_tar),
    ])
}

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, bytes).unwrap();
        path
    }
    /// Unpacks `deb` bytes, expecting a failure; checks that no destination is left.
    fn unpack_err(&self, deb: &[u8]) -> DebError {
        let deb = self.write("bad.deb", deb);
        let dest = self.path("dest");
        let err = unpack_deb(&deb, &dest).expect_err("unpacking should fail");
        assert!(
            !dest.exists(),
            "{} left behind after: {err}",
            dest.display()
        );
        assert!(
            fs::symlink_metadata(&dest).is_err(),
            "dest left behind as a symlink"
        );
        err
    }
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

// -- real .deb files made by dpkg-deb ------------------------------------------------

const REAL_CONTROL: &str = "\
Package: strata-test
Version: 1:2.3-4
Architecture: all
Maintainer: strata <strata@example.invalid>
Pre-Depends: dpkg (>= 1.19)
Depends: libc6 (>= 2.36),
 libfoo1 | libbar2
Provides: strata-hello
Description: a test package
 Made by strata's tests.
 .
 With a blank line.
";

const POSTINST: &str =
    "#!/bin/sh\nset -e\nupdate-alternatives --install /usr/bin/hey hey /usr/bin/hello 5\n";

fn build_with_dpkg(scratch: &Scratch, compression: &str) -> PathBuf {
    let root = scratch.path(&format!("pkg-{compression}"));
    let debian = root.join("DEBIAN");
    fs::create_dir_all(&debian).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&debian, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(debian.join("control"), REAL_CONTROL).unwrap();
    fs::write(debian.join("postinst"), POSTINST).unwrap();
    fs::set_permissions(debian.join("postinst"), fs::Permissions::from_mode(0o755)).unwrap();
    let bin = root.join("usr/bin");
    fs::create_dir_all(&bin).unwrap();
    fs::write(bin.join("hello"), "#!/bin/sh\necho hello\n").unwrap();
    fs::set_permissions(bin.join("hello"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("hello", bin.join("hi")).unwrap();
    let doc = root.join("usr/share/doc/strata-test");
    fs::create_dir_all(&doc).unwrap();
    fs::write(doc.join("README"), "read me\n").unwrap();
    fs::set_permissions(doc.join("README"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::hard_link(doc.join("README"), doc.join("README.same")).unwrap();
    let etc = root.join("etc/strata-test");
    fs::create_dir_all(&etc).unwrap();
    fs::set_permissions(&etc, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("/etc/strata-test", root.join("usr/share/abs-link")).unwrap();
    let out = scratch.path(&format!("strata-test-{compression}.deb"));
    let status = Command::new("dpkg-deb")
        .arg("--root-owner-group")
        .arg(format!("-Z{compression}"))
        .arg("--build")
        .arg(&root)
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run dpkg-deb (dpkg must be installed)");
    assert!(status.success(), "dpkg-deb -Z{compression} failed");
    out
}

fn check_real_unpack(compression: &str, member_suffix: &str) {
    let scratch = Scratch::new();
    let deb = build_with_dpkg(&scratch, compression);
    let dest = scratch.path("out");
    let contents = unpack_deb(&deb, &dest).unwrap();
    assert_eq!(contents.data_member, format!("data.tar{member_suffix}"));
    assert!(contents.control_member.starts_with("control.tar"));

    let control = &contents.control;
    let names: Vec<&str> = control.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "Package",
            "Version",
            "Architecture",
            "Maintainer",
            "Installed-Size",
            "Pre-Depends",
            "Depends",
            "Provides",
            "Description"
        ]
        .iter()
        .filter(|n| names.contains(n))
        .copied()
        .collect::<Vec<_>>()
    );
    assert_eq!(control.get("package"), Some("strata-test"));
    assert_eq!(control.get("Version"), Some("1:2.3-4"));
    assert_eq!(control.get("Architecture"), Some("all"));
    assert_eq!(control.get("Pre-Depends"), Some("dpkg (>= 1.19)"));
    assert_eq!(
        control.get("Depends"),
        Some("libc6 (>= 2.36),\n libfoo1 | libbar2")
    );
    assert_eq!(control.get("Provides"), Some("strata-hello"));
    assert_eq!(
        control.get("Description"),
        Some("a test package\n Made by strata's tests.\n .\n With a blank line.")
    );
    assert_eq!(control.get("Conflicts"), None);
    assert_eq!(read_control(&deb).unwrap(), contents.control);

    let hello = dest.join("usr/bin/hello");
    assert_eq!(
        fs::read_to_string(&hello).unwrap(),
        "#!/bin/sh\necho hello\n"
    );
    assert_eq!(mode_of(&hello), 0o755);
    assert_eq!(
        fs::read_link(dest.join("usr/bin/hi")).unwrap(),
        Path::new("hello")
    );
    assert_eq!(
        fs::read_link(dest.join("usr/share/abs-link")).unwrap(),
        Path::new("/etc/strata-test")
    );
    let doc = dest.join("usr/share/doc/strata-test");
    assert_eq!(fs::read_to_string(doc.join("README")).unwrap(), "read me\n");
    assert_eq!(mode_of(&doc.join("README")), 0o644);
    let (a, b) = (
        fs::metadata(doc.join("README")).unwrap(),
        fs::metadata(doc.join("README.same")).unwrap(),
    );
    assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "hard link kept");
    assert!(dest.join("etc/strata-test").is_dir());
    assert_eq!(mode_of(&dest.join("etc/strata-test")), 0o750);
    // The control members strata keeps, beside nothing else of control.tar (no md5sums).
    assert_eq!(contents.kept, ["control", "postinst"]);
    let mut kept: Vec<String> = fs::read_dir(dest.join("DEBIAN"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    kept.sort();
    assert_eq!(kept, ["control", "postinst", "strata-modes"]);
    let control_text = fs::read_to_string(dest.join("DEBIAN/control")).unwrap();
    assert!(
        control_text.starts_with("Package: strata-test\n"),
        "{control_text}"
    );
    assert_eq!(
        ControlFields::parse(&control_text).unwrap(),
        contents.control
    );
    assert_eq!(
        fs::read_to_string(dest.join("DEBIAN/postinst")).unwrap(),
        POSTINST
    );
    assert_eq!(mode_of(&dest.join("DEBIAN/postinst")), 0o755);
    // --root-owner-group: nothing was dropped.
    assert!(contents.dropped.is_empty());
    assert_eq!(fs::read(dest.join("DEBIAN/strata-modes")).unwrap(), b"");

    let mut paths: Vec<String> = contents
        .paths
        .iter()
        .map(|p| p.to_str().unwrap().to_owned())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "etc",
            "etc/strata-test",
            "usr",
            "usr/bin",
            "usr/bin/hello",
            "usr/bin/hi",
            "usr/share",
            "usr/share/abs-link",
            "usr/share/doc",
            "usr/share/doc/strata-test",
            "usr/share/doc/strata-test/README",
            "usr/share/doc/strata-test/README.same",
        ]
    );

    // A second unpack into the same place is refused and leaves it alone.
    let err = unpack_deb(&deb, &dest).unwrap_err();
    assert!(matches!(err, DebError::DestExists { .. }), "{err}");
    assert!(hello.exists());
}

#[test]
fn unpacks_dpkg_deb_gzip() {
    check_real_unpack("gzip", ".gz");
}

#[test]
fn unpacks_dpkg_deb_xz() {
    check_real_unpack("xz", ".xz");
}

#[test]
fn unpacks_dpkg_deb_zstd() {
    check_real_unpack("zstd", ".zst");
}

#[test]
fn unpacks_dpkg_deb_uncompressed() {
    check_real_unpack("none", "");
}

/// Packages apt has downloaded, if any: this test never downloads anything.
#[test]
fn unpacks_cached_debian_packages() {
    let Ok(dir) = fs::read_dir("/var/cache/apt/archives") else {
        return;
    };
    let mut debs: Vec<(u64, PathBuf)> = dir
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .filter_map(|p| Some((fs::metadata(&p).ok()?.len(), p)))
        .collect();
    debs.sort();
    for (_, deb) in debs.iter().take(5) {
        let scratch = Scratch::new();
        let dest = scratch.path("out");
        let contents = unpack_deb(deb, &dest).unwrap();
        let file_name = deb.file_name().unwrap().to_str().unwrap();
        let package = contents.control.get("Package").unwrap();
        assert!(file_name.starts_with(&format!("{package}_")), "{file_name}");
        for path in &contents.paths {
            assert!(fs::symlink_metadata(dest.join(path)).is_ok(), "{path:?}");
        }
    }
}

// -- hand-made archives ------------------------------------------------------------

#[test]
fn crafted_deb_unpacks_and_drops_setuid() {
    let scratch = Scratch::new();
    let data = raw_tar(&[
        dir("./", 0o755),
        dir("./usr/bin/", 0o2755),
        file("./usr/bin/su-like", b"x", 0o4755),
        file("./usr/bin/odd", b"odd", 0o640),
        link("./usr/bin/again", tar::EntryType::Link, "./usr/bin/odd"),
    ]);
    let deb = scratch.write("ok.deb", &crafted_deb(&data));
    let dest = scratch.path("dest");
    let contents = unpack_deb(&deb, &dest).unwrap();
    assert_eq!(contents.control.get("Package"), Some("crafted"));
    assert_eq!(contents.data_member, "data.tar");
    assert_eq!(mode_of(&dest.join("usr/bin/su-like")), 0o755);
    assert_eq!(mode_of(&dest.join("usr/bin")), 0o755);
    assert_eq!(mode_of(&dest.join("usr/bin/odd")), 0o640);
    assert_eq!(fs::read(dest.join("usr/bin/again")).unwrap(), b"odd");
    assert_eq!(mode_of(&dest), 0o755);
    // What was dropped is listed, in archive order.
    assert_eq!(
        fs::read_to_string(dest.join("DEBIAN/strata-modes")).unwrap(),
        "2755 0 0 usr/bin\n4755 0 0 usr/bin/su-like\n"
    );
    assert_eq!(contents.kept, ["control"]);
}

/// A tar whose entries carry owners: `(path, kind, mode, uid, gid)`.
fn owned_tar(entries: &[(&str, tar::EntryType, u32, u64, u64)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for &(path, kind, mode, uid, gid) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_path(path).unwrap();
        header.set_entry_type(kind);
        header.set_size(if kind == tar::EntryType::Regular {
            1
        } else {
            0
        });
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_mtime(0);
        header.set_cksum();
        let data: &[u8] = if kind == tar::EntryType::Regular {
            b"x"
        } else {
            b""
        };
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn strata_modes_lists_dropped_owners_and_bits() {
    use tar::EntryType::{Directory, Regular};
    let scratch = Scratch::new();
    let data = owned_tar(&[
        ("./", Directory, 0o755, 0, 0),
        ("./usr/", Directory, 0o755, 0, 0),
        ("./usr/bin/", Directory, 0o755, 0, 0),
        ("./usr/bin/chage", Regular, 0o2755, 0, 42),
        ("./usr/bin/plain", Regular, 0o755, 0, 0),
        ("./usr/bin/sudo-like", Regular, 0o4755, 0, 0),
        ("./var/", Directory, 0o755, 0, 0),
        ("./var/mail/", Directory, 0o2775, 0, 8),
        ("./var/lib/", Directory, 0o755, 0, 0),
        ("./var/lib/owned/", Directory, 0o700, 105, 110),
        ("./usr/bin/a b", Regular, 0o4711, 0, 0),
    ]);
    // A hard link to a setuid file is listed too (its header carries the mode).
    let mut data = data;
    data.truncate(data.len() - 1024); // the end-of-archive blocks
    let mut builder = tar::Builder::new(data);
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Link);
    header.set_mode(0o4755);
    header.set_size(0);
    header.set_mtime(0);
    builder
        .append_link(&mut header, "./usr/bin/sudo-again", "./usr/bin/sudo-like")
        .unwrap();
    let data = builder.into_inner().unwrap();
    let deb = scratch.write("owned.deb", &crafted_deb(&data));
    let dest = scratch.path("dest");
    let contents = unpack_deb(&deb, &dest).unwrap();
    assert_eq!(
        fs::read_to_string(dest.join("DEBIAN/strata-modes")).unwrap(),
        "2755 0 42 usr/bin/chage\n\
         4755 0 0 usr/bin/sudo-like\n\
         2775 0 8 var/mail\n\
         0700 105 110 var/lib/owned\n\
         4711 0 0 usr/bin/a b\n\
         4755 0 0 usr/bin/sudo-again\n"
    );
    assert_eq!(contents.dropped.len(), 6);
    assert_eq!(mode_of(&dest.join("usr/bin/chage")), 0o755);
    assert_eq!(mode_of(&dest.join("var/mail")), 0o775);
}

#[test]
fn modes_text_escapes_line_breaks() {
    let text = debian_dir::modes_text(&[DroppedMode {
        mode: 0o4755,
        uid: 0,
        gid: 0,
        path: b"usr/bin/odd\nname\\x".to_vec(),
    }]);
    assert_eq!(text, b"4755 0 0 usr/bin/odd\\nname\\\\x\n");
}

#[test]
fn control_members_are_kept_and_checked() {
    let scratch = Scratch::new();
    let data = raw_tar(&[dir("./", 0o755), file("./usr/x", b"x", 0o644)]);
    let control = gzip(&raw_tar(&[
        dir("./", 0o755),
        file("./control", CONTROL.as_bytes(), 0o644),
        file("./md5sums", b"00  usr/x\n", 0o644),
        file("./triggers", b"activate-noawait ldconfig\n", 0o644),
        file("./conffiles", b"/etc/x.conf\n", 0o644),
        file("./preinst", b"#!/bin/sh\n", 0o755),
    ]));
    let deb = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &control),
        ("data.tar", &data),
    ]);
    let path = scratch.write("members.deb", &deb);
    let dest = scratch.path("dest");
    let contents = unpack_deb(&path, &dest).unwrap();
    assert_eq!(
        contents.kept,
        ["control", "conffiles", "preinst", "triggers"]
    );
    assert!(!dest.join("DEBIAN/md5sums").exists());
    assert_eq!(
        fs::read_to_string(dest.join("DEBIAN/triggers")).unwrap(),
        "activate-noawait ldconfig\n"
    );
    assert_eq!(mode_of(&dest.join("DEBIAN/preinst")), 0o755);

    // A postinst that is a symlink, and one that appears twice, are refused.
    let control = gzip(&raw_tar(&[
        file("./control", CONTROL.as_bytes(), 0o644),
        link("./postinst", tar::EntryType::Symlink, "/etc/passwd"),
    ]));
    let deb = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &control),
        ("data.tar", &data),
    ]);
    let err = Scratch::new().unpack_err(&deb).to_string();
    assert!(err.contains("postinst is not a regular file"), "{err}");
    let control = gzip(&raw_tar(&[
        file("./control", CONTROL.as_bytes(), 0o644),
        file("./postinst", b"a", 0o755),
        file("postinst", b"b", 0o755),
    ]));
    let deb = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &control),
        ("data.tar", &data),
    ]);
    let err = Scratch::new().unpack_err(&deb).to_string();
    assert!(err.contains("postinst appears twice"), "{err}");
}

#[test]
fn data_holding_debian_is_refused() {
    let scratch = Scratch::new();
    let data = raw_tar(&[
        dir("./", 0o755),
        dir("./DEBIAN/", 0o755),
        file("./DEBIAN/control", b"forged", 0o644),
    ]);
    let err = scratch.unpack_err(&crafted_deb(&data)).to_string();
    assert!(
        err.contains("the data member holds DEBIAN/, where strata keeps the control files"),
        "{err}"
    );
}

#[test]
fn ar_reader_reads_members() {
    let bytes = ar(&[("debian-binary", b"2.0\n"), ("odd", b"abc"), ("x", b"")]);
    let mut archive = ArArchive::new(io::Cursor::new(bytes)).unwrap();
    let names: Vec<&str> = archive.members().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["debian-binary", "odd", "x"]);
    assert_eq!(archive.members()[1].mode, 0o100644);
    assert_eq!(archive.members()[1].data_offset, 8 + 60 + 4 + 60);
    let mut data = String::new();
    archive
        .member_data(1)
        .unwrap()
        .read_to_string(&mut data)
        .unwrap();
    assert_eq!(data, "abc");
}

fn ar_error(bytes: Vec<u8>) -> ArError {
    ArArchive::new(io::Cursor::new(bytes)).unwrap_err()
}

#[test]
fn bad_global_magic() {
    let mut bytes = ar(&[("debian-binary", b"2.0\n")]);
    bytes[1] = b'?';
    let err = ar_error(bytes.clone());
    assert!(matches!(err, ArError::BadMagic { .. }), "{err}");
    assert!(err.to_string().contains("byte 0"), "{err}");
    assert!(matches!(
        ar_error(b"!<ar".to_vec()),
        ArError::BadMagic { .. }
    ));
    assert!(matches!(ar_error(Vec::new()), ArError::BadMagic { .. }));
    let err = Scratch::new().unpack_err(&bytes);
    assert!(matches!(err, DebError::Ar { .. }), "{err}");
    assert!(err.to_string().contains("bad.deb"), "{err}");
}

#[test]
fn truncated_header() {
    let mut bytes = ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", b"xx")]);
    bytes.truncate(8 + 60 + 4 + 30);
    let err = ar_error(bytes.clone());
    assert!(
        matches!(
            err,
            ArError::TruncatedHeader {
                offset: 72,
                remaining: 30
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("byte 72"), "{err}");
    Scratch::new().unpack_err(&bytes);
}

#[test]
fn member_size_beyond_eof() {
    let mut bytes = ar(&[("debian-binary", b"2.0\n"), ("data.tar", &[0; 100])]);
    bytes.truncate(bytes.len() - 50);
    let err = ar_error(bytes.clone());
    assert!(
        matches!(
            err,
            ArError::SizeBeyondEof {
                offset: 72,
                size: 100,
                remaining: 50,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"data.tar\""), "{err}");
    Scratch::new().unpack_err(&bytes);
}

#[test]
fn bad_member_header_magic_and_fields() {
    let good = ar(&[("debian-binary", b"2.0\n")]);
    let mut bytes = good.clone();
    bytes[8 + 58] = b'!';
    let err = ar_error(bytes);
    assert!(
        matches!(err, ArError::BadHeaderMagic { offset: 8, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("byte 66"), "{err}");

    let mut bytes = good.clone();
    bytes[8 + 48..8 + 58].copy_from_slice(b"4x        ");
    let err = ar_error(bytes);
    assert!(
        matches!(
            err,
            ArError::BadField {
                offset: 8,
                field: "size",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("\"4x        \""), "{err}");

    let mut bytes = good.clone();
    bytes[8 + 40..8 + 48].copy_from_slice(b"100689  ");
    let err = ar_error(bytes);
    assert!(
        matches!(err, ArError::BadField { field: "mode", .. }),
        "{err}"
    );

    let mut bytes = good.clone();
    bytes[8 + 48..8 + 58].copy_from_slice(b"-4        ");
    let err = ar_error(bytes.clone());
    assert!(
        matches!(err, ArError::BadField { field: "size", .. }),
        "{err}"
    );
    Scratch::new().unpack_err(&bytes);

    let mut bytes = good;
    bytes[8..8 + 16].copy_from_slice(b"/123            ");
    let err = ar_error(bytes);
    assert!(
        matches!(err, ArError::UnsupportedName { offset: 8, .. }),
        "{err}"
    );
}

#[test]
fn missing_debian_binary() {
    let data = raw_tar(&[file("./a", b"a", 0o644)]);
    let err = Scratch::new().unpack_err(&ar(&[
        ("control.tar.gz", &control_tar_gz(CONTROL)),
        ("data.tar", &data),
    ]));
    assert!(matches!(err, DebError::Format { .. }), "{err}");
    assert!(err.to_string().contains("not \"debian-binary\""), "{err}");
    let err = Scratch::new().unpack_err(AR_MAGIC);
    assert!(err.to_string().contains("no members"), "{err}");
}

#[test]
fn wrong_debian_binary_version() {
    let data = raw_tar(&[file("./a", b"a", 0o644)]);
    for version in [&b"3.0\n"[..], b"2.0", b"2.\n", b"20\n", b""] {
        let err = Scratch::new().unpack_err(&ar(&[
            ("debian-binary", version),
            ("control.tar.gz", &control_tar_gz(CONTROL)),
            ("data.tar", &data),
        ]));
        assert!(err.to_string().contains("format version"), "{err}");
    }
    // deb(5): a larger minor number and further lines are to be accepted.
    let scratch = Scratch::new();
    let deb = scratch.write(
        "future.deb",
        &ar(&[
            ("debian-binary", b"2.1\nmore\n"),
            ("_extra", b"ignored"),
            ("control.tar.gz", &control_tar_gz(CONTROL)),
            ("data.tar", &data),
            ("trailing", b"ignored"),
        ]),
    );
    unpack_deb(&deb, &scratch.path("dest")).unwrap();
}

#[test]
fn missing_or_misplaced_members() {
    let data = raw_tar(&[file("./a", b"a", 0o644)]);
    let control = control_tar_gz(CONTROL);
    type Members<'a> = &'a [(&'a str, &'a [u8])];
    let cases: [(Members<'_>, &str); 5] = [
        (
            &[("debian-binary", b"2.0\n"), ("control.tar.gz", &control)],
            "no data.tar",
        ),
        (
            &[("debian-binary", b"2.0\n"), ("data.tar", &data)],
            "before control.tar",
        ),
        (
            &[
                ("debian-binary", b"2.0\n"),
                ("surprise", b""),
                ("control.tar.gz", &control),
                ("data.tar", &data),
            ],
            "unexpected member \"surprise\"",
        ),
        (
            &[
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", &control),
                ("data.tar.bz2", &data),
            ],
            "data.tar.bz2",
        ),
        (
            &[
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", &control),
                ("control.tar", &control),
                ("data.tar", &data),
            ],
            "out of place",
        ),
    ];
    for (members, expected) in cases {
        let err = Scratch::new().unpack_err(&ar(members));
        assert!(matches!(err, DebError::Format { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[test]
fn bad_control_files() {
    let data = raw_tar(&[file("./a", b"a", 0o644)]);
    let cases = [
        ("Version: 1\nArchitecture: all\n", "Package is missing"),
        (
            "Package: a\nVersion: 1\nArchitecture: all\nPackage: b\n",
            "twice",
        ),
        ("Package: a\nVersion 1\nArchitecture: all\n", "line 2"),
        (" continued\nPackage: a\n", "continuation"),
        (
            "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\n",
            "second paragraph",
        ),
    ];
    for (control, expected) in cases {
        let err = Scratch::new().unpack_err(&ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", &control_tar_gz(control)),
            ("data.tar", &data),
        ]));
        assert!(matches!(err, DebError::Control { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
    let no_control = gzip(&raw_tar(&[file("./md5sums", b"", 0o644)]));
    let err = Scratch::new().unpack_err(&ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &no_control),
        ("data.tar", &data),
    ]));
    assert!(err.to_string().contains("no ./control"), "{err}");
    let err = Scratch::new().unpack_err(&ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", b"not xz at all"),
        ("data.tar", &data),
    ]));
    assert!(matches!(err, DebError::Member { .. }), "{err}");
    assert!(err.to_string().contains("control.tar.xz"), "{err}");
}

#[test]
fn corrupt_compressed_data() {
    let data = gzip(&raw_tar(&[
        file("./a", &[7; 100_000], 0o644),
        file("./b", b"b", 0o644),
    ]));
    let control = control_tar_gz(CONTROL);
    let truncated = &data[..data.len() / 2];
    for (name, bytes) in [
        ("data.tar.gz", truncated),
        ("data.tar.xz", b"\xfd7zXZ\0garbage".as_slice()),
        ("data.tar.zst", b"\x28\xb5\x2f\xfdgarbage".as_slice()),
        ("data.tar.zst", b"".as_slice()),
    ] {
        let err = Scratch::new().unpack_err(&ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", &control),
            (name, bytes),
        ]));
        assert!(err.to_string().contains(name), "{err}");
    }
    // A tar cut in the middle of a file.
    let plain = raw_tar(&[file("./a", &[7; 10_000], 0o644)]);
    let err = Scratch::new().unpack_err(&crafted_deb(&plain[..5000]));
    assert!(err.to_string().contains("\"./a\""), "{err}");
}

fn unsafe_entry(entries: &[RawEntry<'_>], expected: &str) -> Scratch {
    let scratch = Scratch::new();
    fs::create_dir(scratch.path("outside")).unwrap();
    fs::write(scratch.path("outside/victim"), "untouched").unwrap();
    let err = scratch.unpack_err(&crafted_deb(&raw_tar(entries)));
    assert!(matches!(err, DebError::Entry { .. }), "{err}");
    assert!(err.to_string().contains(expected), "{expected}: {err}");
    assert_eq!(
        fs::read_to_string(scratch.path("outside/victim")).unwrap(),
        "untouched"
    );
    let mut outside: Vec<_> = fs::read_dir(scratch.path("outside"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    outside.sort();
    assert_eq!(outside, ["victim"]);
    let mut top: Vec<_> = fs::read_dir(scratch.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, ["bad.deb", "outside"], "nothing written beside dest");
    scratch
}

#[test]
fn rejects_dotdot_paths() {
    unsafe_entry(&[file("../escape", b"x", 0o644)], "\"../escape\"");
    unsafe_entry(&[file("./a/../../escape", b"x", 0o644)], "`..`");
    unsafe_entry(&[dir("./..", 0o755)], "`..`");
    unsafe_entry(
        &[link("../escape", tar::EntryType::Symlink, "/etc/passwd")],
        "`..`",
    );
    unsafe_entry(
        &[
            file("./a", b"a", 0o644),
            link("./../hl", tar::EntryType::Link, "./a"),
        ],
        "`..`",
    );
    unsafe_entry(
        &[link("./hl", tar::EntryType::Link, "../outside/victim")],
        "target \"../outside/victim\" has a `..`",
    );
}

#[test]
fn rejects_absolute_paths() {
    unsafe_entry(&[file("/abs", b"x", 0o644)], "absolute");
    unsafe_entry(
        &[link("./hl", tar::EntryType::Link, "/etc/passwd")],
        "\"/etc/passwd\" is an absolute path",
    );
}

#[test]
fn never_writes_through_symlinks() {
    let scratch = Scratch::new();
    let outside = scratch.path("outside");
    let outside = outside.to_str().unwrap();
    let victim = format!("{outside}/victim");
    unsafe_entry(
        &[
            link("./link", tar::EntryType::Symlink, outside),
            file("./link/evil", b"x", 0o644),
        ],
        "link is not a real directory",
    );
    unsafe_entry(
        &[
            link("./link", tar::EntryType::Symlink, outside),
            dir("./link/sub/", 0o755),
        ],
        "not a real directory",
    );
    unsafe_entry(
        &[
            link("./link", tar::EntryType::Symlink, outside),
            link("./link/hl", tar::EntryType::Link, "./x"),
        ],
        "not a real directory",
    );
    unsafe_entry(
        &[
            link("./link", tar::EntryType::Symlink, "../outside"),
            file("./link/victim", b"x", 0o644),
        ],
        "not a real directory",
    );
    unsafe_entry(
        &[
            link("./link", tar::EntryType::Symlink, &victim),
            file("./link", b"overwritten", 0o644),
        ],
        "exists already",
    );
    unsafe_entry(
        &[
            link("./link", tar::EntryType::Symlink, outside),
            dir("./link", 0o755),
        ],
        "not a directory",
    );
    unsafe_entry(
        &[
            link("./link", tar::EntryType::Symlink, outside),
            link("./hl", tar::EntryType::Link, "./link/victim"),
        ],
        "not a real directory",
    );
    unsafe_entry(
        &[file("./f", b"f", 0o644), file("./f/below", b"x", 0o644)],
        "f is not a real directory",
    );
}

#[test]
fn rejects_devices_and_fifos() {
    let device = RawEntry {
        path: "./dev/null",
        kind: tar::EntryType::Char,
        link: "",
        data: b"",
        mode: 0o666,
    };
    unsafe_entry(&[dir("./dev/", 0o755), device], "\"./dev/null\"");
    let block = RawEntry {
        path: "./dev/sda",
        kind: tar::EntryType::Block,
        link: "",
        data: b"",
        mode: 0o660,
    };
    unsafe_entry(&[block], "device node");
    let fifo = RawEntry {
        path: "./run/fifo",
        kind: tar::EntryType::Fifo,
        link: "",
        data: b"",
        mode: 0o644,
    };
    unsafe_entry(&[fifo], "FIFO");
}

#[test]
fn rejects_duplicates_and_dangling_hard_links() {
    unsafe_entry(
        &[file("./a", b"1", 0o644), file("./a", b"2", 0o644)],
        "exists already",
    );
    unsafe_entry(
        &[link("./hl", tar::EntryType::Link, "./missing")],
        "does not exist",
    );
    unsafe_entry(
        &[link("./hl", tar::EntryType::Link, "./no/such/dir")],
        "does not exist",
    );
    unsafe_entry(
        &[link("./s", tar::EntryType::Symlink, "")],
        "without a target",
    );
}

#[test]
fn dest_must_not_exist_and_parent_must() {
    let scratch = Scratch::new();
    let deb = scratch.write(
        "ok.deb",
        &crafted_deb(&raw_tar(&[file("./a", b"a", 0o644)])),
    );
    let dest = scratch.path("dest");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("keep"), "kept").unwrap();
    let err = unpack_deb(&deb, &dest).unwrap_err();
    assert!(matches!(err, DebError::DestExists { .. }), "{err}");
    assert_eq!(fs::read_to_string(dest.join("keep")).unwrap(), "kept");

    let err = unpack_deb(&deb, &scratch.path("no/such/parent")).unwrap_err();
    assert!(matches!(err, DebError::CreateDest { .. }), "{err}");

    let err = unpack_deb(&scratch.path("missing.deb"), &scratch.path("d2")).unwrap_err();
    assert!(matches!(err, DebError::Open { .. }), "{err}");
    assert!(!scratch.path("d2").exists());
}

#[test]
fn read_only_directories_are_cleaned_up_on_failure() {
    let err = Scratch::new().unpack_err(&crafted_deb(&raw_tar(&[
        dir("./ro/", 0o555),
        file("./ro/a", b"a", 0o444),
        RawEntry {
            path: "./ro/fifo",
            kind: tar::EntryType::Fifo,
            link: "",
            data: b"",
            mode: 0o644,
        },
    ])));
    assert!(err.to_string().contains("FIFO"), "{err}");
}
