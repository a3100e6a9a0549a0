//! A fake Debian archive for tests: packages built with `dpkg-deb --build` (which must be
//! installed) in the archive's pool layout, and a gzipped `Packages` index, under a directory
//! that a `file://` URL reaches. Used by this crate's tests and by the command line's.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::process::Command;

use crate::debian::lock::sha256_hex;

/// A package: control fields and the one file it installs.
#[derive(Debug, Clone, Copy)]
pub struct FakePackage<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    /// The `Depends` field (empty: none).
    pub depends: &'a str,
    /// (path it installs, contents)
    pub file: (&'a str, &'a str),
}

/// A package with several entries, more control fields and a `postinst`: what tests of the
/// usr-merged tree need.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakePackageTree<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    /// The `Depends` field (empty: none).
    pub depends: &'a str,
    /// More control lines, each ending in `\n` (e.g. `"Replaces: a\nConflicts: b\n"`).
    pub control: &'a str,
    /// (path, contents) of regular files (mode 0755 under `bin/`, `sbin/`, `usr/bin/` and
    /// `usr/sbin/`, else 0644).
    pub files: &'a [(&'a str, &'a str)],
    /// (path, target) of symlinks.
    pub symlinks: &'a [(&'a str, &'a str)],
    /// The `postinst` maintainer script, if any.
    pub postinst: Option<&'a str>,
}

/// A built package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeDeb {
    pub name: String,
    /// Archive-relative, as the index and the lock name it.
    pub filename: String,
    pub sha256: String,
    pub size: u64,
}

/// Builds `packages` into `archive` and writes `dists/<suite>/main/binary-amd64/Packages.gz`;
/// returns the uncompressed index text and the built packages.
pub fn build(
    archive: &Path,
    suite: &str,
    packages: &[FakePackage<'_>],
) -> io::Result<(String, Vec<FakeDeb>)> {
    let trees: Vec<FakePackageTree<'_>> = packages
        .iter()
        .map(|p| FakePackageTree {
            name: p.name,
            version: p.version,
            arch: p.arch,
            depends: p.depends,
            files: std::slice::from_ref(&p.file),
            ..FakePackageTree::default()
        })
        .collect();
    build_packages(archive, suite, &trees, false)
}

/// [`build`] for packages with several entries, more control fields and a `postinst`.
pub fn build_trees(
    archive: &Path,
    suite: &str,
    packages: &[FakePackageTree<'_>],
) -> io::Result<(String, Vec<FakeDeb>)> {
    build_packages(archive, suite, packages, true)
}

/// Builds the packages; `set_modes` gives files their modes explicitly (else the umask's).
fn build_packages(
    archive: &Path,
    suite: &str,
    packages: &[FakePackageTree<'_>],
    set_modes: bool,
) -> io::Result<(String, Vec<FakeDeb>)> {
    use std::os::unix::fs::PermissionsExt;
    let build = archive.join(".build");
    let mut index = String::new();
    let mut debs = Vec::new();
    for p in packages {
        let tree = build.join(p.name);
        fs::create_dir_all(tree.join("DEBIAN"))?;
        let mut control = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\n\
             Maintainer: Nobody <nobody@example.invalid>\n",
            p.name, p.version, p.arch
        );
        if !p.depends.is_empty() {
            control.push_str(&format!("Depends: {}\n", p.depends));
        }
        control.push_str(p.control);
        control.push_str("Description: a package of the fake archive\n");
        fs::write(tree.join("DEBIAN/control"), &control)?;
        if let Some(script) = p.postinst {
            let path = tree.join("DEBIAN/postinst");
            fs::write(&path, script)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        }
        for (path, contents) in p.files {
            let file = tree.join(path);
            fs::create_dir_all(file.parent().unwrap_or(&tree))?;
            fs::write(&file, contents)?;
            let exec = ["bin/", "sbin/", "usr/bin/", "usr/sbin/"]
                .iter()
                .any(|d| path.starts_with(d));
            if set_modes {
                let mode = if exec { 0o755 } else { 0o644 };
                fs::set_permissions(&file, fs::Permissions::from_mode(mode))?;
            }
        }
        for (path, target) in p.symlinks {
            let link = tree.join(path);
            fs::create_dir_all(link.parent().unwrap_or(&tree))?;
            std::os::unix::fs::symlink(target, &link)?;
        }
        // Pool file names carry no epoch.
        let file_version = p.version.split_once(':').map_or(p.version, |(_, v)| v);
        let filename = format!(
            "pool/main/{}/{}/{}_{file_version}_{}.deb",
            &p.name[..1],
            p.name,
            p.name,
            p.arch
        );
        let deb = archive.join(&filename);
        fs::create_dir_all(deb.parent().unwrap_or(archive))?;
        let out = Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zgzip", "--build"])
            .arg(&tree)
            .arg(&deb)
            .output()
            .map_err(|e| {
                io::Error::other(format!(
                    "cannot run dpkg-deb, which builds the fake archive (install dpkg): {e}"
                ))
            })?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "dpkg-deb: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let bytes = fs::read(&deb)?;
        let sha256 = sha256_hex(&bytes);
        index.push_str(&format!(
            "{control}Filename: {filename}\nSize: {}\nSHA256: {sha256}\nPriority: optional\n\n",
            bytes.len()
        ));
        debs.push(FakeDeb {
            name: p.name.to_owned(),
            filename,
            sha256,
            size: bytes.len() as u64,
        });
    }
    let _ = fs::remove_dir_all(&build);
    let dir = archive.join(format!("dists/{suite}/main/binary-amd64"));
    fs::create_dir_all(&dir)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(index.as_bytes())?;
    fs::write(dir.join("Packages.gz"), gz.finish()?)?;
    Ok((index, debs))
}
