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
            .arg(&lock_path),
        None,
    )
    .ok();
    assert!(
        out.text()
            .contains(": 3 packages from fake amd64 (3 in main)"),
        "{}",
        out.text()
    );
    let lock = LockFile::parse(&fs::read_to_string(&lock_path).unwrap()).unwrap();
    assert_eq!(
        lock.indexes[0].sha256,
        Hash::of(HashAlgo::Sha256, index.as_bytes()).to_base16()
    );
    let text = fs::read_to_string(&lock_path).unwrap();
    assert!(
        !text.contains("file://"),
        "the lock must hold no URL:\n{text}"
    );

    // Fetch `app` and what it depends on, the archive named by the environment this time.
    let out = run(
        lock_cmd(&root)
            .env("STRATA_DEBIAN_MIRROR", file_url(archive.path()))
            .args(["fetch", "-f"])
            .arg(&lock_path)
            .arg("app"),
        None,
    )
    .ok();
    let paths = out.lines();
    assert_eq!(paths.len(), 3, "{}", out.text());
    assert!(
        paths[0].ends_with("-debian-digest-fake-amd64"),
        "the digest first: {}",
        out.text()
    );
    assert!(
        out.stderr.contains("2 packages (") && out.stderr.contains("in the store, 2 downloaded"),
        "{}",
        out.stderr
    );
    for (path, pkg) in paths[1..].iter().zip(PKGS) {
        let (name, (file, contents)) = (pkg.name, pkg.file);
        assert!(path.starts_with("/nix/store/"), "{path}");
        assert!(
            path.ends_with(&format!("-{name}_{}_amd64.deb", pkg.version)),
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
            .arg(&lock_path)
            .arg("app"),
        None,
    )
    .ok();
    assert_eq!(out.lines(), paths);
    assert!(out.stderr.contains("0 downloaded"), "{}", out.stderr);

    // An unknown name.
    let out = run(
        lock_cmd(&root)
            .args(["fetch", "--mirror"])
            .arg(file_url(archive.path()))
            .arg("-f")
            .arg(&lock_path)
            .arg("nonexistent"),
        None,
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("pins no package called nonexistent"),
        "{}",
        out.stderr
    );

    // Corrupt the first package; a fresh store gets the digest and no package.
    let deb = archive
        .path()
        .join(format!("pool/main/a/app/app_{}_amd64.deb", PKGS[0].version));
    let original = fs::read(&deb).unwrap();
    let mut bytes = original.clone();
    bytes.push(0);
    fs::write(&deb, &bytes).unwrap();
    let fresh = work.path().join("fresh");
    let out = run(
        lock_cmd(&fresh)
            .args(["fetch", "--mirror"])
            .arg(file_url(archive.path()))
            .arg("-f")
            .arg(&lock_path)
            .arg("app"),
        None,
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let expected = Hash::of(HashAlgo::Sha256, &original);
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
    let left: Vec<String> = fs::read_dir(fresh.join("nix/store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].ends_with("-debian-digest-fake-amd64"), "{left:?}");
}

#[test]
fn a_moved_suite_and_files_that_are_not_locks() {
    let (archive, _) = fake_archive();
    let work = tempfile::tempdir().unwrap();
    let lock_path = work.path().join("strata.lock");
    let update = |root: &str| {
        run(
            lock_cmd(&work.path().join(root))
                .args(["update", "--mirror"])
                .arg(file_url(archive.path()))
                .args(["--suite", SUITE, "-o"])
                .arg(&lock_path),
            None,
        )
    };
    // A file that is not a lock is not overwritten.
    fs::write(&lock_path, "my notes\n").unwrap();
    let out = update("root");
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("is not a strata lock file"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read_to_string(&lock_path).unwrap(), "my notes\n");
    // A lock of the old format is replaced, and refused where it is read.
    let old = "format strata-lock 1\nsuite fake\narchitecture amd64\n";
    fs::write(&lock_path, old).unwrap();
    let out = run(
        lock_cmd(&work.path().join("root"))
            .args(["fetch", "-f"])
            .arg(&lock_path),
        None,
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("format 1") && out.stderr.contains("strata lock update"),
        "{}",
        out.stderr
    );
    update("root").ok();
    let lock = LockFile::parse(&fs::read_to_string(&lock_path).unwrap()).unwrap();

    // The archive moves on: a store without the digest cannot make it again.
    let index_dir = archive
        .path()
        .join(format!("dists/{SUITE}/main/binary-amd64"));
    fs::remove_file(index_dir.join("Packages.gz")).unwrap();
    let mut moved = fake::build(&work.path().join("moved"), SUITE, &PKGS[..2])
        .unwrap()
        .0
        .into_bytes();
    moved.extend_from_slice(b"\n");
    fs::write(index_dir.join("Packages"), &moved).unwrap();
    let xz = Command::new("xz")
        .arg(index_dir.join("Packages"))
        .output()
        .unwrap();
    assert!(xz.status.success());
    let out = run(
        lock_cmd(&work.path().join("fresh"))
            .args(["fetch", "--mirror"])
            .arg(file_url(archive.path()))
            .arg("-f")
            .arg(&lock_path),
        None,
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no longer holds the index strata.lock pins")
            && out.stderr.contains(&lock.indexes[0].sha256),
        "{}",
        out.stderr
    );
    // The store that has it needs no archive.
    let out = run(
        lock_cmd(&work.path().join("root"))
            .args(["fetch", "-f"])
            .arg(&lock_path),
        None,
    )
    .ok();
    assert!(
        out.text().contains("-debian-digest-fake-amd64"),
        "{}",
        out.text()
    );
}
