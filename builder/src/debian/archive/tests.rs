#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use strata_store::StoreDir;

use super::fake::{FakeDeb, FakePackage};
use super::*;
use crate::fetch::file_url;
use crate::fetch::tests::{response, serve};

const SUITE: &str = "fake";

const PKGS: &[FakePackage<'static>] = &[
    FakePackage {
        name: "app",
        version: "1.0-1",
        arch: "amd64",
        depends: "libfoo (>= 1.0) | libbar",
        file: ("usr/bin/app", "#!/bin/sh\necho app\n"),
    },
    FakePackage {
        name: "libfoo",
        version: "1.2~rc1-1",
        arch: "amd64",
        depends: "",
        file: ("usr/lib/libfoo.txt", "foo library\n"),
    },
    FakePackage {
        name: "unrelated",
        version: "3",
        arch: "all",
        depends: "",
        file: ("usr/share/unrelated", "not in the lock\n"),
    },
];

/// A fake archive under a temporary directory.
struct FakeArchive {
    dir: tempfile::TempDir,
    debs: Vec<FakeDeb>,
    packages_text: String,
}

impl FakeArchive {
    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn url(&self) -> String {
        file_url(self.root())
    }

    fn archive(&self) -> Archive {
        Archive::configure(Some(&self.url()), Some(SUITE), "amd64", self.root()).unwrap()
    }

    fn index_dir(&self) -> PathBuf {
        self.root().join(format!("dists/{SUITE}/main/binary-amd64"))
    }
}

/// Builds the fake archive with `dpkg-deb --build`, and writes its `Packages` index gzipped.
fn fake_archive() -> FakeArchive {
    let dir = tempfile::tempdir().unwrap();
    let (packages_text, debs) = fake::build(dir.path(), SUITE, PKGS).unwrap();
    FakeArchive {
        dir,
        debs,
        packages_text,
    }
}

fn xz_available() -> bool {
    Command::new("xz")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn records(digest: &[u8]) -> Vec<DigestRecord> {
    let text = std::str::from_utf8(digest).unwrap();
    crate::debian::digest::split(text)
        .unwrap()
        .records
        .iter()
        .map(|(_, line)| serde_json::from_str(line).unwrap())
        .collect()
}

/// The records of `app` and `libfoo`, the closure of `app`.
fn app_closure(digest: &[u8]) -> Vec<DigestRecord> {
    records(digest)
        .into_iter()
        .filter(|r| r.name != "unrelated")
        .collect()
}

fn check_lock(a: &FakeArchive, lock: &LockFile, digest: &[u8]) {
    assert_eq!(lock.suite, SUITE);
    assert_eq!(lock.architecture, "amd64");
    assert_eq!(
        lock.indexes,
        [LockedIndex {
            path: format!("dists/{SUITE}/main/binary-amd64/Packages"),
            sha256: sha256_hex(a.packages_text.as_bytes()),
        }]
    );
    assert_eq!(lock.digest, sha256_hex(digest));
    let recs = records(digest);
    let names: Vec<&str> = recs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["app", "libfoo", "unrelated"]);
    for p in &recs {
        let d = a.debs.iter().find(|d| d.name == p.name).unwrap();
        assert_eq!(p.filename, d.filename);
        assert_eq!(p.sha256, d.sha256);
        assert_eq!(p.size, d.size);
        assert_eq!(p.component, "main");
    }
    assert_eq!(recs[0].depends, ["libfoo"]);
    assert_eq!(recs[1].version, "1.2~rc1-1");
    assert_eq!(LockFile::parse(&lock.to_text()).unwrap(), *lock);
}

fn store(dir: &Path) -> LocalStore {
    LocalStore::open(dir, StoreDir::new("/nix/store").unwrap()).unwrap()
}

/// Checks that every locked package is valid in `s` and unpacks to its file.
fn check_unpacks(s: &LocalStore, fetched: &[FetchedPackage], scratch: &Path) {
    assert_eq!(fetched.len(), 2);
    for f in fetched {
        assert!(s.is_valid(&f.info.path).unwrap());
        let p = PKGS.iter().find(|p| p.name == f.name).unwrap();
        let dest = scratch.join(format!("unpacked-{}", f.name));
        let contents =
            crate::debian::unpack::unpack_deb(&s.real_path(&f.info.path), &dest).unwrap();
        assert!(contents.paths.iter().any(|x| x.ends_with(p.file.0)));
        assert_eq!(fs::read_to_string(dest.join(p.file.0)).unwrap(), p.file.1);
    }
}

#[test]
fn gz_fallback_lock_and_fetch() {
    let a = fake_archive();
    let archive = a.archive();
    assert_eq!(archive.base, a.url());
    let index = archive.fetch_main_index().unwrap();
    assert!(index.url.ends_with("/Packages.gz"), "{}", index.url);
    assert_eq!(index.data, a.packages_text.as_bytes());
    assert_eq!(index.sha256, sha256_hex(a.packages_text.as_bytes()));

    let (lock, digest) = update_lock(&archive).unwrap();
    check_lock(&a, &lock, &digest);

    let scratch = tempfile::tempdir().unwrap();
    let mut s = store(&scratch.path().join("root"));
    let mut seen = Vec::new();
    let closure = app_closure(&digest);
    let fetched = fetch_debs(&mut s, &archive, &closure, Progress::Never, |f| {
        seen.push((f.name.clone(), f.downloaded));
    })
    .unwrap();
    assert_eq!(
        seen,
        [("app".to_string(), true), ("libfoo".to_string(), true)]
    );
    // `~` cannot be in a store path name.
    assert!(s
        .print(&fetched[1].info.path)
        .ends_with("-libfoo_1.2_rc1-1_amd64.deb"));
    check_unpacks(&s, &fetched, scratch.path());

    // Everything valid: nothing is read from the archive again.
    fs::remove_dir_all(a.root().join("pool")).unwrap();
    let again = fetch_debs(&mut s, &archive, &closure, Progress::Never, |_| {}).unwrap();
    assert!(again.iter().all(|f| !f.downloaded));
    assert_eq!(again[0].info.path, fetched[0].info.path);
}

#[test]
fn the_digest_in_the_store() {
    let a = fake_archive();
    let archive = a.archive();
    let (lock, digest) = update_lock(&archive).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut s = store(&scratch.path().join("root"));

    // Made from the pinned index, with the sha256 the lock pins.
    let path = ensure_digest(&mut s, &lock, || Ok(a.archive())).unwrap();
    assert_eq!(path, digest_store_path(&s, &lock).unwrap());
    assert_eq!(fs::read(s.real_path(&path)).unwrap(), digest);
    assert!(s.print(&path).ends_with("-debian-digest-fake-amd64"));
    // Valid: the archive is not reached again.
    let again = ensure_digest(&mut s, &lock, || Err(ArchiveError::NoArchive)).unwrap();
    assert_eq!(again, path);

    // The suite moved on: the pinned index is no longer there.
    let mut fresh = store(&scratch.path().join("fresh"));
    let moved = a.packages_text.replace("Version: 3", "Version: 4");
    let gz = a.index_dir().join("Packages.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, moved.as_bytes()).unwrap();
    let original = fs::read(&gz).unwrap();
    fs::write(&gz, enc.finish().unwrap()).unwrap();
    let err = ensure_digest(&mut fresh, &lock, || Ok(a.archive())).unwrap_err();
    assert!(matches!(err, ArchiveError::IndexMoved { .. }), "{err}");
    assert!(err.to_string().contains("strata lock update"), "{err}");
    assert!(fresh.valid_paths().unwrap().is_empty());

    // A lock whose digest another resolver made.
    fs::write(&gz, original).unwrap();
    let other = LockFile {
        digest: "0".repeat(64),
        ..lock
    };
    let err = ensure_digest(&mut fresh, &other, || Ok(a.archive())).unwrap_err();
    assert!(matches!(err, ArchiveError::DigestMismatch { .. }), "{err}");
    assert!(fresh.valid_paths().unwrap().is_empty());
}

#[test]
fn xz_index_is_preferred() {
    assert!(
        xz_available(),
        "the `xz` command is missing: install Debian's xz-utils (scripts/test does)"
    );
    let a = fake_archive();
    let plain = a.index_dir().join("Packages");
    fs::write(&plain, &a.packages_text).unwrap();
    let out = Command::new("xz").arg("-k").arg(&plain).output().unwrap();
    assert!(out.status.success());
    fs::remove_file(&plain).unwrap();
    // A broken .gz proves the .xz is the one read.
    fs::write(a.index_dir().join("Packages.gz"), b"not gzip").unwrap();
    let archive = a.archive();
    let index = archive.fetch_main_index().unwrap();
    assert!(index.url.ends_with("/Packages.xz"), "{}", index.url);
    assert_eq!(index.data, a.packages_text.as_bytes());
    let (lock, digest) = update_lock(&archive).unwrap();
    check_lock(&a, &lock, &digest);

    // A broken .xz is an error, not a reason to fall back.
    fs::write(a.index_dir().join("Packages.xz"), b"not xz").unwrap();
    let err = archive.fetch_main_index().unwrap_err();
    assert!(matches!(err, ArchiveError::Decompress { .. }), "{err}");
    assert!(err.to_string().contains("Packages.xz"), "{err}");
}

#[test]
fn missing_main_index() {
    let a = fake_archive();
    fs::remove_file(a.index_dir().join("Packages.gz")).unwrap();
    let err = update_lock(&a.archive()).unwrap_err();
    assert!(matches!(err, ArchiveError::NoIndex { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("main/binary-amd64/Packages.xz does not exist"),
        "{err}"
    );
}

#[test]
fn corrupt_deb_after_locking() {
    let a = fake_archive();
    let archive = a.archive();
    let (_, digest) = update_lock(&archive).unwrap();
    let closure = app_closure(&digest);
    // `app` comes first: nothing is fetched before the failure.
    let deb = a.root().join(&closure[0].filename);
    let mut bytes = fs::read(&deb).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&deb, &bytes).unwrap();

    let scratch = tempfile::tempdir().unwrap();
    let mut s = store(&scratch.path().join("root"));
    let err = fetch_debs(&mut s, &archive, &closure, Progress::Never, |_| {}).unwrap_err();
    let msg = err.to_string();
    let expected = hex_hash("app", &closure[0].sha256).unwrap();
    let actual = Hash::of(HashAlgo::Sha256, &bytes);
    for part in [
        "hash mismatch".to_string(),
        closure[0].filename.clone(),
        expected.to_sri(),
        expected.to_nix32(),
        actual.to_sri(),
        actual.to_nix32(),
    ] {
        assert!(msg.contains(&part), "{msg:?} should contain {part:?}");
    }
    assert!(s.valid_paths().unwrap().is_empty());
    assert_eq!(fs::read_dir(s.real_store_dir()).unwrap().count(), 0);
}

#[test]
fn over_http_on_loopback() {
    let a = fake_archive();
    let gz = fs::read(a.index_dir().join("Packages.gz")).unwrap();
    let mut responses = vec![response("404 Not Found", b""), response("200 OK", &gz)];
    // contrib, non-free and non-free-firmware: neither .xz nor .gz.
    for _ in 0..6 {
        responses.push(response("404 Not Found", b""));
    }
    let (base, server) = serve(responses);
    let archive =
        Archive::configure(Some(&format!("{base}/")), Some(SUITE), "amd64", a.root()).unwrap();
    assert_eq!(archive.base, base);
    let (lock, digest) = update_lock(&archive).unwrap();
    check_lock(&a, &lock, &digest);
    let requests = server.join().unwrap();
    let mut expected = Vec::new();
    for component in ["main", "contrib", "non-free", "non-free-firmware"] {
        for ext in ["xz", "gz"] {
            expected.push(format!(
                "GET /dists/{SUITE}/{component}/binary-amd64/Packages.{ext} HTTP/1.1"
            ));
        }
    }
    assert_eq!(requests, expected);

    let closure = app_closure(&digest);
    let debs: Vec<Vec<u8>> = closure
        .iter()
        .map(|p| response("200 OK", &fs::read(a.root().join(&p.filename)).unwrap()))
        .collect();
    let (base, server) = serve(debs);
    let archive = Archive::configure(Some(&base), Some(SUITE), "amd64", a.root()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut s = store(&scratch.path().join("root"));
    let fetched = fetch_debs(&mut s, &archive, &closure, Progress::Never, |_| {}).unwrap();
    check_unpacks(&s, &fetched, scratch.path());
    assert_eq!(server.join().unwrap().len(), 2);
}

#[test]
fn configuration_sources() {
    let root = tempfile::tempdir().unwrap();
    let from_flags = Archive::configure(
        Some("http://archive.invalid/debian/"),
        Some("s"),
        "amd64",
        root.path(),
    )
    .unwrap();
    assert_eq!(
        from_flags,
        Archive {
            base: "http://archive.invalid/debian".into(),
            suite: "s".into(),
            arch: "amd64".into()
        }
    );
    assert_eq!(
        from_flags.url("pool/x.deb"),
        "http://archive.invalid/debian/pool/x.deb"
    );
    if std::env::var_os(MIRROR_ENV).is_none() {
        let err = Archive::configure(None, None, "amd64", root.path()).unwrap_err();
        assert!(matches!(err, ArchiveError::NoArchive), "{err}");
    }
    let err = Archive::configure(Some("file:///x"), None, "amd64", root.path()).unwrap_err();
    assert!(matches!(err, ArchiveError::NoSuite { .. }), "{err}");

    fs::create_dir_all(root.path().join("etc/apt")).unwrap();
    fs::write(
        root.path().join("etc/apt/sources.list"),
        "deb http://archive.invalid/apt trixie main\n",
    )
    .unwrap();
    // The suite from the apt sources, the base from the flag.
    let a = Archive::configure(Some("file:///x"), None, "amd64", root.path()).unwrap();
    assert_eq!((a.base.as_str(), a.suite.as_str()), ("file:///x", "trixie"));
    if std::env::var_os(MIRROR_ENV).is_none() {
        let a = Archive::configure(None, Some("sid"), "amd64", root.path()).unwrap();
        assert_eq!(
            (a.base.as_str(), a.suite.as_str()),
            ("http://archive.invalid/apt", "sid")
        );
        assert_eq!(
            a.packages_path("main"),
            "dists/sid/main/binary-amd64/Packages".to_string()
        );
    }
}

#[test]
fn store_names_of_debs() {
    assert_eq!(
        deb_store_name("pool/main/b/busybox/busybox-static_1%3a1.36.1-9_amd64.deb"),
        "busybox-static_1_3a1.36.1-9_amd64.deb"
    );
    assert_eq!(deb_store_name("a~b.deb"), "a_b.deb");
    assert_eq!(deb_store_name(".hidden"), "_hidden");
}
