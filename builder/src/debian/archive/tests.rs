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

fn check_lock(a: &FakeArchive, lock: &LockFile) {
    assert_eq!(lock.suite, SUITE);
    assert_eq!(lock.architecture, "amd64");
    assert_eq!(
        lock.indexes,
        [LockedIndex {
            path: format!("dists/{SUITE}/main/binary-amd64/Packages"),
            sha256: sha256_hex(a.packages_text.as_bytes()),
        }]
    );
    let names: Vec<&str> = lock.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["app", "libfoo"]);
    for p in &lock.packages {
        let d = a.debs.iter().find(|d| d.name == p.name).unwrap();
        assert_eq!(p.filename, d.filename);
        assert_eq!(p.sha256, d.sha256);
        assert_eq!(p.size, d.size);
    }
    assert_eq!(lock.packages[0].depends, ["libfoo"]);
    assert_eq!(lock.packages[1].version, "1.2~rc1-1");
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
    let index = archive.fetch_packages_index().unwrap();
    assert!(index.url.ends_with("/Packages.gz"), "{}", index.url);
    assert_eq!(index.data, a.packages_text.as_bytes());
    assert_eq!(index.sha256, sha256_hex(a.packages_text.as_bytes()));

    let lock = update_lock(&archive, &["app"]).unwrap();
    check_lock(&a, &lock);

    let scratch = tempfile::tempdir().unwrap();
    let mut s = store(&scratch.path().join("root"));
    let mut seen = Vec::new();
    let fetched = fetch_locked(&mut s, &archive, &lock, Progress::Never, |f| {
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
    let again = fetch_locked(&mut s, &archive, &lock, Progress::Never, |_| {}).unwrap();
    assert!(again.iter().all(|f| !f.downloaded));
    assert_eq!(again[0].info.path, fetched[0].info.path);
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
    let index = archive.fetch_packages_index().unwrap();
    assert!(index.url.ends_with("/Packages.xz"), "{}", index.url);
    assert_eq!(index.data, a.packages_text.as_bytes());
    check_lock(&a, &update_lock(&archive, &["app"]).unwrap());

    // A broken .xz is an error, not a reason to fall back.
    fs::write(a.index_dir().join("Packages.xz"), b"not xz").unwrap();
    let err = archive.fetch_packages_index().unwrap_err();
    assert!(matches!(err, ArchiveError::Decompress { .. }), "{err}");
    assert!(err.to_string().contains("Packages.xz"), "{err}");
}

#[test]
fn missing_index_and_unknown_package() {
    let a = fake_archive();
    let err = update_lock(&a.archive(), &["no-such-package"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("no package called no-such-package"),
        "{err}"
    );
    fs::remove_file(a.index_dir().join("Packages.gz")).unwrap();
    let err = update_lock(&a.archive(), &["app"]).unwrap_err();
    assert!(
        err.to_string().contains("Packages.gz") && err.to_string().contains("not found"),
        "{err}"
    );
}

#[test]
fn corrupt_deb_after_locking() {
    let a = fake_archive();
    let archive = a.archive();
    let lock = update_lock(&archive, &["app"]).unwrap();
    // `app` comes first: nothing is fetched before the failure.
    let deb = a.root().join(&lock.packages[0].filename);
    let mut bytes = fs::read(&deb).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&deb, &bytes).unwrap();

    let scratch = tempfile::tempdir().unwrap();
    let mut s = store(&scratch.path().join("root"));
    let err = fetch_locked(&mut s, &archive, &lock, Progress::Never, |_| {}).unwrap_err();
    let msg = err.to_string();
    let expected = lock_hash(&lock.packages[0]).unwrap();
    let actual = Hash::of(HashAlgo::Sha256, &bytes);
    for part in [
        "hash mismatch".to_string(),
        lock.packages[0].filename.clone(),
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
    let (base, server) = serve(vec![
        response("404 Not Found", b""),
        response("200 OK", &gz),
    ]);
    let archive =
        Archive::configure(Some(&format!("{base}/")), Some(SUITE), "amd64", a.root()).unwrap();
    assert_eq!(archive.base, base);
    let lock = update_lock(&archive, &["app"]).unwrap();
    check_lock(&a, &lock);
    let requests = server.join().unwrap();
    assert_eq!(
        requests,
        [
            format!("GET /dists/{SUITE}/main/binary-amd64/Packages.xz HTTP/1.1"),
            format!("GET /dists/{SUITE}/main/binary-amd64/Packages.gz HTTP/1.1"),
        ]
    );

    let debs: Vec<Vec<u8>> = lock
        .packages
        .iter()
        .map(|p| response("200 OK", &fs::read(a.root().join(&p.filename)).unwrap()))
        .collect();
    let (base, server) = serve(debs);
    let archive = Archive::configure(Some(&base), Some(SUITE), "amd64", a.root()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut s = store(&scratch.path().join("root"));
    let fetched = fetch_locked(&mut s, &archive, &lock, Progress::Never, |_| {}).unwrap();
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
            a.packages_path(),
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
