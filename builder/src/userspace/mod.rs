//! The generation's usr-merged tree (`builtin:strata-usr`): a list of unpacked packages in,
//! one tree out, laid out as the machine's `/usr` and `/etc` will be:
//!
//! ```text
//! $out/usr/...                        the packages' files, merged (/bin/x is /usr/bin/x)
//! $out/bin -> usr/bin, sbin -> usr/sbin, lib -> usr/lib, lib64 -> usr/lib64
//! $out/etc/...                        the files the packages ship under /etc
//! $out/usr/lib/strata/ld.so.cache     the loader's cache (glibc's format, written here)
//! $out/usr/lib/strata/alternatives.json, collisions.json   what was chosen
//! $out/usr/lib/strata/var-skeleton.json   the directories packages ship under /var
//! $out/usr/lib/strata/packages   the packages' store paths (the tree's references)
//! ```
//!
//! [`build_usr_tree`] runs the steps in order: read the packages ([`package`]), refuse
//! conflicting pairs, join ([`join`], collisions settled by [`collisions`], paths mapped by
//! [`paths`]), the compatibility links, alternatives ([`alternatives`]), the loader cache
//! ([`ldcache`]), the CA bundle ([`certs`]), the record files, and last the check that every
//! ELF program and library finds its interpreter and libraries ([`check`], over [`elf`]).
//! The same inputs give the same tree, byte for byte.
//!
//! Must not: run anything from the packages, write into a package (the tree hard-links their
//! files, so every file written here is written as a new file, never through an existing
//! one), or leave a partial tree behind on failure.

pub mod alternatives;
pub mod certs;
pub mod check;
pub mod collisions;
pub mod elf;
pub mod join;
pub mod ldcache;
pub mod package;
pub mod paths;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where the tree keeps strata's own files.
pub const STRATA_DIR: &str = "usr/lib/strata";
/// The loader cache, relative to the tree.
pub const LD_CACHE: &str = "usr/lib/strata/ld.so.cache";
/// The compatibility links at the tree's top: `(name, target)`.
pub const TOP_LINKS: [(&str, &str); 4] = [
    ("bin", "usr/bin"),
    ("sbin", "usr/sbin"),
    ("lib", "usr/lib"),
    ("lib64", "usr/lib64"),
];

/// Where the tree links the running kernel's modules, and the link's target.
pub const KERNEL_MODULES_LINK: &str = "usr/lib/modules";
pub const KERNEL_MODULES_TARGET: &str = "/run/booted-system/kernel-modules/lib/modules";

/// Why the tree could not be made. Messages are build errors as they stand.
#[derive(Debug, thiserror::Error)]
pub enum UsrError {
    #[error("read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{}: {problem}", path.display())]
    BadPackage { path: PathBuf, problem: String },
    #[error("package {name} is given twice ({first} and {second})")]
    SameName {
        name: String,
        first: String,
        second: String,
    },
    #[error("{} conflicting package pair(s) in the tree:\n  {}", .0.len(), .0.join("\n  "))]
    Conflicts(Vec<String>),
    #[error("{} collision(s) in the tree:\n  {}", .0.len(), .0.join("\n  "))]
    Collisions(Vec<String>),
    #[error("{} problem(s) with alternatives:\n  {}", .0.len(), .0.join("\n  "))]
    Alternatives(Vec<String>),
    #[error(
        "{} ELF file(s) miss their interpreter or libraries (environment.debian.strictLibraries \
         is set):\n  {}",
        .0.len(),
        .0.join("\n  ")
    )]
    Libraries(Vec<String>),
    #[error("{file}: {problem}")]
    LdSoConf { file: String, problem: String },
    #[error("cannot make {wanted}: {path} is not a directory (or a link to one) in the tree")]
    NotADirectory { path: String, wanted: String },
    #[error("create {}: it already exists", out.display())]
    OutExists { out: PathBuf },
    #[error("remove the partly made {} after an earlier failure ({original}): {source}", out.display())]
    Cleanup {
        out: PathBuf,
        original: Box<UsrError>,
        source: io::Error,
    },
}

impl UsrError {
    pub(crate) fn read(path: &Path, source: io::Error) -> UsrError {
        UsrError::Read {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn write(path: &Path, source: io::Error) -> UsrError {
        UsrError::Write {
            path: path.to_owned(),
            source,
        }
    }
}

/// The configuration's choices (`environment.debian.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Alternative name -> the path chosen for it.
    pub alternatives: BTreeMap<String, String>,
    /// Path (as the machine shows it) -> the package that wins a collision there.
    pub collisions: BTreeMap<String, String>,
    /// Package pairs whose `Conflicts` are accepted.
    pub allow_conflicts: Vec<(String, String)>,
    /// Whether an ELF file missing its libraries fails the build (else a warning).
    pub strict_libraries: bool,
    /// More of `ld.so.conf`, read after the tree's own.
    pub extra_ld_so_conf: String,
}

/// What [`build_usr_tree`] made, for the log and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub packages: usize,
    pub made: join::Made,
    pub alternatives: usize,
    pub cache_entries: usize,
    pub library_warnings: usize,
}

/// The directory that will hold `rel` (relative to the tree at `out`), relative to `out`:
/// existing components are followed through the tree's own links (absolute ones taken
/// relative to `out`, so nothing outside the tree is ever reached), missing ones are created.
pub(crate) fn real_parent(out: &Path, rel: &Path) -> Result<PathBuf, UsrError> {
    let mut done = PathBuf::new();
    for component in paths::normalise(rel.parent().unwrap_or(Path::new(""))) {
        let next = done.join(component);
        match paths::resolve(out, &next) {
            Some(real) if out.join(&real).is_dir() => done = real,
            Some(real) => {
                return Err(UsrError::NotADirectory {
                    path: paths::shown(&real),
                    wanted: paths::shown(rel),
                })
            }
            None => {
                let full = out.join(&next);
                if fs::symlink_metadata(&full).is_ok() {
                    return Err(UsrError::NotADirectory {
                        path: paths::shown(&next),
                        wanted: paths::shown(rel),
                    });
                }
                fs::create_dir(&full).map_err(|e| UsrError::write(&full, e))?;
                fs::set_permissions(&full, fs::Permissions::from_mode(0o755))
                    .map_err(|e| UsrError::write(&full, e))?;
                done = next;
            }
        }
    }
    Ok(done)
}

/// Writes `bytes` as a new file at `out/rel` (parents created as [`real_parent`] does),
/// replacing what is there: an existing entry is removed first, so a file hard-linked from a
/// package is never written through.
pub(crate) fn write_new(out: &Path, rel: &Path, bytes: &[u8]) -> Result<(), UsrError> {
    let parent = real_parent(out, rel)?;
    let path = out.join(parent).join(rel.file_name().unwrap_or_default());
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(UsrError::write(&path, e)),
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&path)
        .map_err(|e| UsrError::write(&path, e))?;
    f.write_all(bytes).map_err(|e| UsrError::write(&path, e))?;
    f.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(|e| UsrError::write(&path, e))
}

/// Makes the tree of the packages `inputs` (`(store path as named, where it is)`) at `out`,
/// which must not exist; on failure `out` is removed again. Notes and warnings go to `log`.
pub fn build_usr_tree(
    inputs: &[(String, PathBuf)],
    opts: &Options,
    out: &Path,
    log: &mut dyn Write,
) -> Result<Summary, UsrError> {
    if fs::symlink_metadata(out).is_ok() {
        return Err(UsrError::OutExists {
            out: out.to_owned(),
        });
    }
    match build(inputs, opts, out, log) {
        Ok(s) => Ok(s),
        Err(original) => match strata_store::fs::delete_tree(out) {
            Ok(()) => Err(original),
            Err(e) => Err(UsrError::Cleanup {
                out: out.to_owned(),
                original: Box::new(original),
                source: e.source,
            }),
        },
    }
}

fn build(
    inputs: &[(String, PathBuf)],
    opts: &Options,
    out: &Path,
    log: &mut dyn Write,
) -> Result<Summary, UsrError> {
    let packages = package::read_all(inputs)?;
    let conflicts = package::conflicts(&packages, &opts.allow_conflicts);
    if !conflicts.is_empty() {
        return Err(UsrError::Conflicts(conflicts));
    }
    let plan = join::plan(&packages, &opts.collisions)?;
    let made = join::materialise(&plan, out)?;
    for note in &plan.notes {
        let _ = writeln!(log, "{note}");
    }
    let _ = writeln!(
        log,
        "joined {} packages: {} directories, {} files linked, {} copied, {} symlinks",
        packages.len(),
        made.dirs,
        made.linked,
        made.copied,
        made.symlinks
    );
    for (name, target) in TOP_LINKS {
        std::os::unix::fs::symlink(target, out.join(name))
            .map_err(|e| UsrError::write(&out.join(name), e))?;
    }
    // Debian's modprobe looks in /lib/modules/<version>: the modules of the kernel that is
    // running, which is the booted generation's (a switch may install another kernel).
    let modules = out.join(KERNEL_MODULES_LINK);
    if out.join("usr/lib").is_dir() && fs::symlink_metadata(&modules).is_err() {
        std::os::unix::fs::symlink(KERNEL_MODULES_TARGET, &modules)
            .map_err(|e| UsrError::write(&modules, e))?;
    }

    let owner = |place: &Path| {
        plan.nodes
            .get(place)
            .and_then(|n| packages.get(n.pkg))
            .map(|p| p.name.clone())
    };
    let chosen = alternatives::apply(&packages, out, opts, &owner, log)?;

    let conf = ldcache::read_conf(out, &opts.extra_ld_so_conf)?;
    let cache = ldcache::scan(out, &conf, log)?;
    write_new(out, Path::new(LD_CACHE), &ldcache::write(&cache.entries))?;
    let _ = writeln!(
        log,
        "ld.so.cache: {} entries from {} directories",
        cache.entries.len(),
        cache.dirs.len()
    );

    certs::ca_bundle(out, log)?;

    write_new(
        out,
        &Path::new(STRATA_DIR).join("alternatives.json"),
        &json(&chosen),
    )?;
    write_new(
        out,
        &Path::new(STRATA_DIR).join("collisions.json"),
        &json(&plan.settled),
    )?;
    write_new(
        out,
        &Path::new(STRATA_DIR).join("var-skeleton.json"),
        &json(&plan.var_skeleton),
    )?;

    // The packages the tree was made of, named in it: they are its references, so a machine
    // can make its tree again without the archive (their files are the tree's, hard-linked:
    // no space is spent on them in a store or an image).
    let mut names: Vec<&str> = inputs.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let list: String = names.iter().map(|n| format!("{n}\n")).collect();
    write_new(
        out,
        &Path::new(STRATA_DIR).join("packages"),
        list.as_bytes(),
    )?;

    let problems = check::check_tree(out, &cache)?;
    if opts.strict_libraries && !problems.is_empty() {
        return Err(UsrError::Libraries(problems));
    }
    for p in &problems {
        let _ = writeln!(log, "warning: {p}");
    }
    Ok(Summary {
        packages: packages.len(),
        made,
        alternatives: chosen.len(),
        cache_entries: cache.entries.len(),
        library_warnings: problems.len(),
    })
}

/// Pretty JSON of a record file, ending in a newline.
fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Maps with string keys and plain values: serialising cannot fail.
    let mut v = serde_json::to_vec_pretty(value).unwrap_or_default();
    v.push(b'\n');
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn writes_stay_inside_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let outside = dir.path().join("outside");
        fs::create_dir_all(out.join("etc")).unwrap();
        fs::create_dir_all(out.join("usr/share/ssl")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        // A link to an absolute directory means that directory in the tree, which is missing.
        symlink(&outside, out.join("etc/ssl")).unwrap();
        let err = write_new(&out, Path::new("etc/ssl/certs/bundle"), b"x")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "cannot make /etc/ssl/certs/bundle: /etc/ssl is not a directory (or a link to one) \
             in the tree"
        );
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        // A link to a directory of the tree is followed there.
        fs::remove_file(out.join("etc/ssl")).unwrap();
        symlink("../usr/share/ssl", out.join("etc/ssl")).unwrap();
        write_new(&out, Path::new("etc/ssl/certs/bundle"), b"x").unwrap();
        assert_eq!(
            fs::read(out.join("usr/share/ssl/certs/bundle")).unwrap(),
            b"x"
        );
        // An existing file is replaced, not written through.
        fs::write(dir.path().join("package-file"), b"package").unwrap();
        fs::hard_link(
            dir.path().join("package-file"),
            out.join("usr/share/ssl/certs/linked"),
        )
        .unwrap();
        write_new(&out, Path::new("usr/share/ssl/certs/linked"), b"new").unwrap();
        assert_eq!(
            fs::read(dir.path().join("package-file")).unwrap(),
            b"package"
        );
        assert_eq!(
            fs::read(out.join("usr/share/ssl/certs/linked")).unwrap(),
            b"new"
        );
    }
}

#[cfg(test)]
mod build_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// One package holding a copy of this host's `ls` (which needs libraries the tree lacks).
    fn package_with_ls(dir: &Path) -> Option<Vec<(String, PathBuf)>> {
        let ls = Path::new("/usr/bin/ls");
        if !ls.exists() {
            eprintln!("skipped: this host has no /usr/bin/ls");
            return None;
        }
        let root = dir.join("coreutils");
        fs::create_dir_all(root.join("DEBIAN")).unwrap();
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(
            root.join("DEBIAN/control"),
            "Package: coreutils\nVersion: 9.1-1\nArchitecture: amd64\n",
        )
        .unwrap();
        fs::copy(ls, root.join("bin/ls")).unwrap();
        Some(vec![("/nix/store/x-coreutils-9.1-1".into(), root)])
    }

    #[test]
    fn missing_libraries_warn_or_fail_when_strict() {
        let dir = tempfile::tempdir().unwrap();
        let Some(inputs) = package_with_ls(dir.path()) else {
            return;
        };
        let out = dir.path().join("out");
        let mut log = Vec::new();
        let summary = build_usr_tree(&inputs, &Options::default(), &out, &mut log).unwrap();
        assert!(summary.library_warnings >= 2, "{summary:?}");
        let log = String::from_utf8(log).unwrap();
        assert!(
            log.contains("warning: /usr/bin/ls: its interpreter /lib64/ld-linux-x86-64.so.2"),
            "{log}"
        );
        assert!(out.join("usr/bin/ls").is_file());

        let strict = Options {
            strict_libraries: true,
            ..Options::default()
        };
        let out = dir.path().join("strict");
        let err = build_usr_tree(&inputs, &strict, &out, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment.debian.strictLibraries is set"),
            "{err}"
        );
        assert!(err.contains("/usr/bin/ls: needs libc.so.6"), "{err}");
        assert!(!out.exists(), "a failed build leaves nothing behind");
    }

    #[test]
    fn conflicts_fail_before_anything_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let mut inputs = Vec::new();
        for (name, extra) in [("a", "Conflicts: b\n"), ("b", "")] {
            let root = dir.path().join(name);
            fs::create_dir_all(root.join("DEBIAN")).unwrap();
            fs::write(
                root.join("DEBIAN/control"),
                format!("Package: {name}\nVersion: 1\nArchitecture: all\n{extra}"),
            )
            .unwrap();
            inputs.push((format!("/nix/store/x-{name}"), root));
        }
        let out = dir.path().join("out");
        let err = build_usr_tree(&inputs, &Options::default(), &out, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("1 conflicting package pair(s) in the tree:\n  package a (1) conflicts with package b (1) (Conflicts: b)"),
            "{err}"
        );
        assert!(!out.exists());
        let allowed = Options {
            allow_conflicts: vec![("b".into(), "a".into())],
            ..Options::default()
        };
        build_usr_tree(&inputs, &allowed, &out, &mut Vec::new()).unwrap();
        assert_eq!(
            fs::read_link(out.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        // An existing destination is refused and left alone.
        let err = build_usr_tree(&inputs, &allowed, &out, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("out: it already exists"), "{err}");
        assert!(out.join("usr/lib/strata/ld.so.cache").is_file());
    }
}
