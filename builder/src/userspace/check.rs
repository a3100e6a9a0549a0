//! The build-time half of "every ELF finds its libraries" (section 2.2 step 8): each ELF
//! executable and shared object under `usr/bin`, `usr/sbin` and `usr/lib` (not
//! `usr/lib/debug`) must find its interpreter (`PT_INTERP`) in the tree, and each `DT_NEEDED`
//! library in the loader cache, its `DT_RPATH`/`DT_RUNPATH` directories (`$ORIGIN`, `$LIB`
//! and `$PLATFORM` expanded, in a `DT_NEEDED` path too), the default directories, or
//! (leniently, for private libraries an executable's `RPATH` reaches) its own directory; a
//! library (no `PT_INTERP`) may also need any shared object the tree holds, which whoever
//! loads it may have loaded first.
//!
//! Must not: decide what a problem means (the caller warns or fails), or follow a directory
//! symlink while walking.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::elf::{is_elf, read_dynamic, DynamicInfo, ET_DYN, ET_EXEC};
use super::ldcache::{Cache, SYSTEM_DIRS};
use super::paths::{resolve, shown};
use super::UsrError;

const WALKED: [&str; 3] = ["usr/bin", "usr/sbin", "usr/lib"];
const NOT_WALKED: [&str; 1] = ["usr/lib/debug"];

/// Every regular file below the walked directories, relative to `root`, sorted.
fn files(root: &Path) -> Result<Vec<PathBuf>, UsrError> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = WALKED.iter().rev().map(PathBuf::from).collect();
    while let Some(rel) = stack.pop() {
        if NOT_WALKED.iter().any(|n| rel == Path::new(n)) {
            continue;
        }
        let full = root.join(&rel);
        let Ok(md) = fs::symlink_metadata(&full) else {
            continue;
        };
        if md.is_dir() {
            let mut names = Vec::new();
            for e in fs::read_dir(&full).map_err(|e| UsrError::read(&full, e))? {
                names.push(e.map_err(|e| UsrError::read(&full, e))?.file_name());
            }
            names.sort();
            stack.extend(names.into_iter().rev().map(|n| rel.join(n)));
        } else if md.is_file() {
            out.push(rel);
        }
    }
    Ok(out)
}

/// `value` with the loader's dynamic string tokens expanded for a file in `origin`.
fn expand(value: &str, origin: &str) -> String {
    value
        .replace("${ORIGIN}", origin)
        .replace("$ORIGIN", origin)
        .replace("${LIB}", "lib/x86_64-linux-gnu")
        .replace("$LIB", "lib/x86_64-linux-gnu")
        .replace("${PLATFORM}", "x86_64")
        .replace("$PLATFORM", "x86_64")
}

/// The directories of a `DT_RPATH`/`DT_RUNPATH` value for a file in `origin`.
fn search_dirs(value: &[u8], origin: &Path) -> Vec<PathBuf> {
    let origin = format!("/{}", origin.display());
    String::from_utf8_lossy(value)
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(expand(d, &origin)))
        .collect()
}

/// Whether `name` is a regular file (through links) in `dir` of the tree.
fn found_in(root: &Path, dir: &Path, name: &str) -> bool {
    resolve(root, &dir.join(name)).is_some_and(|p| root.join(p).is_file())
}

/// The x86-64 programs and libraries of a tree, each with its facts.
type ElfFiles = Vec<(PathBuf, DynamicInfo)>;

/// The x86-64 programs and libraries of the tree, and the lines for unreadable ELF files.
fn elf_files(root: &Path) -> Result<(ElfFiles, Vec<String>), UsrError> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for rel in files(root)? {
        let full = root.join(&rel);
        let Ok(mut file) = File::open(&full) else {
            continue;
        };
        let mut head = [0u8; 4];
        if file.read_exact(&mut head).is_err() || !is_elf(&head) {
            continue;
        }
        match read_dynamic(&file) {
            Ok(info) if info.is_x86_64() && matches!(info.elf_type, ET_EXEC | ET_DYN) => {
                found.push((rel, info));
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{}: unreadable ELF file: {e}", shown(&rel))),
        }
    }
    Ok((found, problems))
}

/// The problems of the ELF files of the tree at `root`, sorted: one line each.
///
/// A library (a file without `PT_INTERP`) may also need a library that is only loaded by
/// whoever loads it (the JVM's `libjava.so` needs `libjvm.so`, which the launcher loads by
/// path first): for those, any shared object of the tree with that soname or file name counts.
pub fn check_tree(root: &Path, cache: &Cache) -> Result<Vec<String>, UsrError> {
    let cached: BTreeSet<&[u8]> = cache.entries.iter().map(|e| e.key.as_slice()).collect();
    let (files, unreadable) = elf_files(root)?;
    let mut problems: BTreeSet<String> = unreadable.into_iter().collect();
    let mut anywhere: BTreeSet<Vec<u8>> = BTreeSet::new();
    for (rel, info) in &files {
        if let Some(soname) = &info.soname {
            anywhere.insert(soname.clone());
        }
        if info.elf_type == ET_DYN {
            if let Some(name) = rel.file_name() {
                anywhere.insert(name.as_encoded_bytes().to_vec());
            }
        }
    }
    for (rel, info) in &files {
        if let Some(interp) = &info.interp {
            let interp = String::from_utf8_lossy(interp).into_owned();
            let present = resolve(root, Path::new(&interp)).is_some_and(|p| root.join(p).is_file());
            if !present {
                problems.insert(format!(
                    "{}: its interpreter {interp} is not in the tree",
                    shown(rel)
                ));
            }
        }
        let origin = rel.parent().unwrap_or(Path::new(""));
        let rpath = match (&info.runpath, &info.rpath) {
            (None, Some(r)) => search_dirs(r, origin),
            _ => Vec::new(),
        };
        let runpath = info
            .runpath
            .as_ref()
            .map(|r| search_dirs(r, origin))
            .unwrap_or_default();
        for needed in &info.needed {
            let name = String::from_utf8_lossy(needed).into_owned();
            let ok = if name.contains('/') {
                let path = expand(&name, &format!("/{}", origin.display()));
                resolve(root, Path::new(&path)).is_some_and(|p| root.join(p).is_file())
            } else {
                rpath.iter().any(|d| found_in(root, d, &name))
                    || cached.contains(needed.as_slice())
                    || runpath.iter().any(|d| found_in(root, d, &name))
                    || SYSTEM_DIRS
                        .iter()
                        .any(|d| found_in(root, Path::new(d), &name))
                    || found_in(root, origin, &name)
                    || (info.interp.is_none() && anywhere.contains(needed))
            };
            if !ok {
                problems.insert(format!(
                    "{}: needs {name}, which no directory of the loader's search holds",
                    shown(rel)
                ));
            }
        }
    }
    Ok(problems.into_iter().collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn origin_and_friends_expand() {
        let dirs = search_dirs(
            b"$ORIGIN/../lib:${ORIGIN}/x::/opt/$LIB",
            Path::new("usr/bin"),
        );
        assert_eq!(
            dirs,
            [
                PathBuf::from("/usr/bin/../lib"),
                PathBuf::from("/usr/bin/x"),
                PathBuf::from("/opt/lib/x86_64-linux-gnu")
            ]
        );
    }

    use crate::userspace::elf::tiny_elf;

    fn put(root: &Path, rel: &str, bytes: &[u8]) {
        let full = root.join(rel);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, bytes).unwrap();
    }

    #[test]
    fn search_rules_of_the_loader() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let lib = "usr/lib/x86_64-linux-gnu";
        put(
            root,
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            &tiny_elf(ET_DYN, None, Some("ld-linux-x86-64.so.2"), &[], None),
        );
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("usr/lib64", root.join("lib64")).unwrap();
        fs::create_dir_all(root.join("usr/lib64")).unwrap();
        std::os::unix::fs::symlink(
            "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            root.join("usr/lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        let interp = Some("/lib64/ld-linux-x86-64.so.2");
        put(
            root,
            &format!("{lib}/libc.so.6"),
            &tiny_elf(
                ET_DYN,
                interp,
                Some("libc.so.6"),
                &["ld-linux-x86-64.so.2"],
                None,
            ),
        );
        put(
            root,
            "usr/lib/prog/private/libp.so",
            &tiny_elf(ET_DYN, None, Some("libp.so"), &["libc.so.6"], None),
        );
        put(
            root,
            "usr/lib/jvm/lib/server/libjvm.so",
            &tiny_elf(ET_DYN, None, Some("libjvm.so"), &[], None),
        );
        // RUNPATH with $ORIGIN, a DT_NEEDED path with $ORIGIN, a library loaded first by
        // someone else (only for libraries), and a missing one.
        put(
            root,
            "usr/bin/prog",
            &tiny_elf(
                ET_DYN,
                interp,
                None,
                &[
                    "libc.so.6",
                    "libp.so",
                    "$ORIGIN/../lib/prog/private/libp.so",
                ],
                Some("$ORIGIN/../lib/prog/private"),
            ),
        );
        put(
            root,
            "usr/lib/jvm/lib/libjava.so",
            &tiny_elf(ET_DYN, None, Some("libjava.so"), &["libjvm.so"], None),
        );
        put(
            root,
            "usr/bin/java-like",
            &tiny_elf(ET_EXEC, interp, None, &["libjvm.so", "libgone.so.1"], None),
        );
        put(
            root,
            "usr/bin/wrong-interp",
            &tiny_elf(ET_EXEC, Some("/lib/ld-musl-x86_64.so.1"), None, &[], None),
        );
        // Not checked: other architectures' files would be skipped, debug files are.
        put(
            root,
            "usr/lib/debug/.build-id/aa/bb.debug",
            &tiny_elf(ET_DYN, interp, None, &["libnothing.so"], None),
        );
        let problems = check_tree(root, &Cache::default()).unwrap();
        assert_eq!(
            problems,
            [
                "/usr/bin/java-like: needs libgone.so.1, which no directory of the loader's search holds",
                "/usr/bin/java-like: needs libjvm.so, which no directory of the loader's search holds",
                "/usr/bin/wrong-interp: its interpreter /lib/ld-musl-x86_64.so.1 is not in the tree",
            ]
        );
    }

    #[test]
    fn host_programs_are_checked() {
        let (Ok(_), Ok(_)) = (
            fs::metadata("/usr/bin/ls"),
            fs::metadata("/usr/lib/x86_64-linux-gnu/libc.so.6"),
        ) else {
            eprintln!("skipped: this host has no /usr/bin/ls or libc.so.6");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::copy("/usr/bin/ls", root.join("usr/bin/ls")).unwrap();
        fs::write(root.join("usr/bin/script"), "#!/bin/sh\n").unwrap();
        let problems = check_tree(root, &Cache::default()).unwrap();
        assert!(
            problems.contains(
                &"/usr/bin/ls: its interpreter /lib64/ld-linux-x86-64.so.2 is not in the tree"
                    .to_owned()
            ),
            "{problems:?}"
        );
        assert!(
            problems.contains(
                &"/usr/bin/ls: needs libc.so.6, which no directory of the loader's search holds"
                    .to_owned()
            ),
            "{problems:?}"
        );
        // With the loader and the C library in place (found in a default directory), only
        // the other libraries of ls are missing.
        let lib = root.join("usr/lib/x86_64-linux-gnu");
        fs::create_dir_all(&lib).unwrap();
        fs::create_dir_all(root.join("usr/lib64")).unwrap();
        fs::copy("/usr/lib/x86_64-linux-gnu/libc.so.6", lib.join("libc.so.6")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("usr/lib64", root.join("lib64")).unwrap();
        std::os::unix::fs::symlink(
            "/lib/x86_64-linux-gnu/libc.so.6",
            root.join("usr/lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        let problems = check_tree(root, &Cache::default()).unwrap();
        assert!(
            !problems.iter().any(|p| p.contains("interpreter")),
            "{problems:?}"
        );
        assert!(
            !problems.iter().any(|p| p.contains("libc.so.6,")),
            "{problems:?}"
        );
    }
}
