//! The build-time half of "every ELF finds its libraries" (section 2.2 step 8): each ELF
//! executable and shared object under `usr/bin`, `usr/sbin` and `usr/lib` (not
//! `usr/lib/debug`) must find its interpreter (`PT_INTERP`) in the tree, and each `DT_NEEDED`
//! library in the loader cache, its `DT_RPATH`/`DT_RUNPATH` directories (`$ORIGIN`, `$LIB`
//! and `$PLATFORM` expanded), the default directories, or (leniently, for private libraries
//! an executable's `RPATH` reaches) its own directory.
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

/// The directories of a `DT_RPATH`/`DT_RUNPATH` value for a file in `origin`.
fn search_dirs(value: &[u8], origin: &Path) -> Vec<PathBuf> {
    let origin = format!("/{}", origin.display());
    String::from_utf8_lossy(value)
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| {
            PathBuf::from(
                d.replace("${ORIGIN}", &origin)
                    .replace("$ORIGIN", &origin)
                    .replace("${LIB}", "lib/x86_64-linux-gnu")
                    .replace("$LIB", "lib/x86_64-linux-gnu")
                    .replace("${PLATFORM}", "x86_64")
                    .replace("$PLATFORM", "x86_64"),
            )
        })
        .collect()
}

/// Whether `name` is a regular file (through links) in `dir` of the tree.
fn found_in(root: &Path, dir: &Path, name: &str) -> bool {
    resolve(root, &dir.join(name)).is_some_and(|p| root.join(p).is_file())
}

/// The problems of the ELF files of the tree at `root`, sorted: one line each.
pub fn check_tree(root: &Path, cache: &Cache) -> Result<Vec<String>, UsrError> {
    let cached: BTreeSet<&[u8]> = cache.entries.iter().map(|e| e.key.as_slice()).collect();
    let mut problems = BTreeSet::new();
    for rel in files(root)? {
        let full = root.join(&rel);
        let Ok(mut file) = File::open(&full) else {
            continue;
        };
        let mut head = [0u8; 4];
        if file.read_exact(&mut head).is_err() || !is_elf(&head) {
            continue;
        }
        let info: DynamicInfo = match read_dynamic(&file) {
            Ok(i) => i,
            Err(e) => {
                problems.insert(format!("{}: unreadable ELF file: {e}", shown(&rel)));
                continue;
            }
        };
        if !info.is_x86_64() || !matches!(info.elf_type, ET_EXEC | ET_DYN) {
            continue;
        }
        if let Some(interp) = &info.interp {
            let interp = String::from_utf8_lossy(interp).into_owned();
            let present = resolve(root, Path::new(&interp)).is_some_and(|p| root.join(p).is_file());
            if !present {
                problems.insert(format!(
                    "{}: its interpreter {interp} is not in the tree",
                    shown(&rel)
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
                resolve(root, Path::new(&name)).is_some()
            } else {
                rpath.iter().any(|d| found_in(root, d, &name))
                    || cached.contains(needed.as_slice())
                    || runpath.iter().any(|d| found_in(root, d, &name))
                    || SYSTEM_DIRS
                        .iter()
                        .any(|d| found_in(root, Path::new(d), &name))
                    || found_in(root, origin, &name)
            };
            if !ok {
                problems.insert(format!(
                    "{}: needs {name}, which no directory of the loader's search holds",
                    shown(&rel)
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
