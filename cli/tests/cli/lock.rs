//! `strata lock update` and `strata lock fetch` against a fake Debian archive in a temporary
//! directory, reached through a `file://` URL: no network.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_builder::debian::archive::fake::{self, FakePackage};
use strata_builder::debian::lock::LockFile;
use strata_store::{Hash, HashAlgo};
use tempfile::TempDir;

use super::{run, strata};

const SUITE: &str = "fake";

const PKGS: &[FakePackage<'static>] = &[
    FakePackage {
        name: "app",
        version: "1.0-1",
        arch: "amd64",
        depends: "libfoo",
        file: ("usr/bin/app", "#!/bin/sh\necho app\n"),
    },
    FakePackage {
        name: "libfoo",
        version: "2.0-3",
        arch: "amd64",
        depends: "",
        file: ("usr/lib/libfoo.txt", "foo\n"),
    },
    FakePackage {
        name: "other",
        version: "1",
        arch: "amd64",
        depends: "",
        file: ("usr/share/other", "not pinned\n"),
    },
];

/// Builds the archive with `dpkg-deb` and a gzipped index; returns its directory and the
/// uncompressed index text.
fn fake_archive() -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = fake::build(dir.path(), SUITE, PKGS).unwrap();
    (dir, index)
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn lock_cmd(root: &Path) -> Command {
    let mut c = strata();
    c.env_remove("STRATA_DEBIAN_MIRROR")
        .arg("--store-root")
        .arg(root)
        .arg("lock");
    c
}

#[test]
fn update_then_fetch_then_refuse_a_corrupt_deb() {
    let (archive, index) = fake_archive();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    let lock_path = work.path().join("strata.lock");

    let out = run(
        lock_cmd(&root)
            .args(["update", "--mirror"])
            .arg(file_url(archive.path()))
            .args(["--suite", SUITE, "-o"])
            .arg(&lock_path)
            .arg("app"),
        None,
    )
    .ok();
    assert!(
        out.text().contains(": 2 packages from fake amd64"),
        "{}",
        out.text()
    );
    let lock = LockFile::parse(&fs::read_to_string(&lock_path).unwrap()).unwrap();
    let names: Vec<&str> = lock.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["app", "libfoo"]);
    assert_eq!(lock.packages[0].depends, ["libfoo"]);
    assert_eq!(
        lock.indexes[0].sha256,
        Hash::of(HashAlgo::Sha256, index.as_bytes()).to_base16()
    );
    let text = fs::read_to_string(&lock_path).unwrap();
    assert!(
        !text.contains("file://"),
        "the lock must hold no URL:\n{text}"
    );

    // Fetch, the archive named by the environment this time.
    let out = run(
        lock_cmd(&root)
            .env("STRATA_DEBIAN_MIRROR", file_url(archive.path()))
            .args(["fetch", "-f"])
            .arg(&lock_path),
        None,
    )
    .ok();
    let paths = out.lines();
    assert_eq!(paths.len(), 2, "{}", out.text());
    assert!(
        out.stderr.contains("2 packages in the store, 2 downloaded"),
        "{}",
        out.stderr
    );
    for (path, pkg) in paths.iter().zip(PKGS) {
        let (name, (file, contents)) = (pkg.name, pkg.file);
        assert!(path.starts_with("/nix/store/"), "{path}");
        assert!(
            path.ends_with(&format!(
                "-{name}_{}_amd64.deb",
                lock.packages
                    .iter()
                    .find(|p| p.name == name)
                    .unwrap()
                    .version
            )),
            "{path}"
        );
        let real: PathBuf = root.join(path.trim_start_matches('/'));
        let dest = work.path().join(format!("unpacked-{name}"));
        strata_builder::debian::unpack::unpack_deb(&real, &dest).unwrap();
        assert_eq!(fs::read_to_string(dest.join(file)).unwrap(), contents);
    }
    let out = run(
        lock_cmd(&root)
            .args(["fetch", "--mirror"])
            .arg(file_url(archive.path()))
            .arg("-f")
            .arg(&lock_path),
        None,
    )
    .ok();
    assert_eq!(out.lines(), paths);
    assert!(out.stderr.contains("0 downloaded"), "{}", out.stderr);

    // Corrupt the first package; a fresh store stays empty.
    let deb = archive.path().join(&lock.packages[0].filename);
    let mut bytes = fs::read(&deb).unwrap();
    bytes.push(0);
    fs::write(&deb, &bytes).unwrap();
    let fresh = work.path().join("fresh");
    let out = run(
        lock_cmd(&fresh)
            .args(["fetch", "--mirror"])
            .arg(file_url(archive.path()))
            .arg("-f")
            .arg(&lock_path),
        None,
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let expected = strata_store::hash::from_hex(&lock.packages[0].sha256).unwrap();
    let expected = Hash::from_digest(HashAlgo::Sha256, &expected).unwrap();
    let actual = Hash::of(HashAlgo::Sha256, &bytes);
    for part in [
        "hash mismatch".to_string(),
        expected.to_sri(),
        expected.to_nix32(),
        actual.to_sri(),
        actual.to_nix32(),
    ] {
        assert!(
            out.stderr.contains(&part),
            "{} should contain {part}",
            out.stderr
        );
    }
    assert_eq!(fs::read_dir(fresh.join("nix/store")).unwrap().count(), 0);
}

#[test]
fn update_with_an_unknown_package() {
    let (archive, _) = fake_archive();
    let work = tempfile::tempdir().unwrap();
    let lock_path = work.path().join("strata.lock");
    let out = run(
        lock_cmd(&work.path().join("root"))
            .args(["update", "--mirror"])
            .arg(file_url(archive.path()))
            .args(["--suite", SUITE, "-o"])
            .arg(&lock_path)
            .arg("nonexistent"),
        None,
    );
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("no package called nonexistent"),
        "{}",
        out.stderr
    );
    assert!(!lock_path.exists());
}

#[test]
fn update_adds_to_what_the_lock_pins_unless_told_to_replace() {
    let (archive, _) = fake_archive();
    let work = tempfile::tempdir().unwrap();
    let lock_path = work.path().join("strata.lock");
    let update = |extra: &[&str]| {
        run(
            lock_cmd(&work.path().join("root"))
                .args(["update", "--mirror"])
                .arg(file_url(archive.path()))
                .args(["--suite", SUITE, "-o"])
                .arg(&lock_path)
                .args(extra),
            None,
        )
        .ok();
        let lock = LockFile::parse(&fs::read_to_string(&lock_path).unwrap()).unwrap();
        lock.packages
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(update(&["app"]), ["app", "libfoo"]);
    assert_eq!(update(&["other"]), ["app", "libfoo", "other"]);
    // No names: the same packages again, at the archive's versions.
    assert_eq!(update(&[]), ["app", "libfoo", "other"]);
    assert_eq!(update(&["--replace", "other"]), ["other"]);
}
