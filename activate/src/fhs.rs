//! The machine's `/usr`: fixed links that make the running generation's Debian userspace the
//! file system Debian's programs expect.
//!
//! ```text
//! /usr   -> /run/current-system/sw/usr
//! /bin   -> usr/bin        /sbin -> usr/sbin
//! /lib   -> usr/lib        /lib64 -> usr/lib64
//! /etc/ld.so.cache -> /usr/lib/strata/ld.so.cache
//! ```
//!
//! The links never change: `/usr` follows `/run/current-system`, which a switch moves with one
//! rename, so the whole userspace (programs, libraries, the loader's cache, the alternatives)
//! moves at once. [`ensure`] makes missing links and replaces links that point elsewhere; a
//! real directory in their place is replaced only when it is empty (a machine converted from
//! another system keeps its files until its owner moves them), and a generation without a
//! usr-merged tree (`sw/usr`) leaves the root alone.
//!
//! Must not: delete anything but an empty directory or a link.

use std::fs;
use std::io;
use std::path::Path;

use crate::{io_err, resolve, ActivateError};

/// The fixed links, relative to the root: (place, target).
pub const LINKS: &[(&str, &str)] = &[
    ("usr", "/run/current-system/sw/usr"),
    ("bin", "usr/bin"),
    ("sbin", "usr/sbin"),
    ("lib", "usr/lib"),
    ("lib64", "usr/lib64"),
    ("etc/ld.so.cache", "/usr/lib/strata/ld.so.cache"),
];

/// Makes the links of [`LINKS`] below `root` if the generation `toplevel` (a logical store path)
/// has a usr-merged tree; returns what changed.
pub fn ensure(root: &Path, toplevel: &str) -> Result<Vec<String>, ActivateError> {
    let mut changes = Vec::new();
    if !resolve(root, &format!("{toplevel}/sw"))
        .join("usr")
        .is_dir()
    {
        return Ok(changes);
    }
    for (place, target) in LINKS {
        let path = root.join(place);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                if fs::read_link(&path).map_err(io_err(&path))? == Path::new(target) {
                    continue;
                }
                replace_link(&path, target)?;
                changes.push(format!("pointed /{place} at {target}"));
            }
            Ok(m) if m.is_dir() => {
                let empty = fs::read_dir(&path).map_err(io_err(&path))?.next().is_none();
                if !empty {
                    return Err(ActivateError::Invalid(format!(
                        "/{place} is a directory with files in it, where strata links the \
                         generation's userspace (/{place} -> {target}); move its contents away \
                         (Debian's programs come from the generation now), then activate again"
                    )));
                }
                fs::remove_dir(&path).map_err(io_err(&path))?;
                replace_link(&path, target)?;
                changes.push(format!(
                    "replaced the empty directory /{place} by a link to {target}"
                ));
            }
            Ok(_) => {
                return Err(ActivateError::Invalid(format!(
                    "/{place} is a file, where strata links the generation's userspace \
                     (/{place} -> {target}); move it away, then activate again"
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(io_err(parent))?;
                }
                replace_link(&path, target)?;
                changes.push(format!("linked /{place} to {target}"));
            }
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
    Ok(changes)
}

/// Points the link `path` at `target` with one rename, so it never is missing.
fn replace_link(path: &Path, target: &str) -> Result<(), ActivateError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".strata-new");
    let tmp = Path::new(&tmp);
    let _ = fs::remove_file(tmp);
    std::os::unix::fs::symlink(target, tmp).map_err(io_err(tmp))?;
    fs::rename(tmp, path).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// A root with a generation at `/nix/store/x-system` whose `sw` has a `usr`.
    fn root_with_generation(with_usr: bool) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("nix/store/x-system");
        fs::create_dir_all(&top).unwrap();
        let sw = d.path().join("nix/store/y-system-path");
        fs::create_dir_all(if with_usr {
            sw.join("usr/bin")
        } else {
            sw.join("bin")
        })
        .unwrap();
        std::os::unix::fs::symlink("/nix/store/y-system-path", top.join("sw")).unwrap();
        d
    }

    #[test]
    fn links_made_once_and_kept() {
        let d = root_with_generation(true);
        let changes = ensure(d.path(), "/nix/store/x-system").unwrap();
        assert_eq!(changes.len(), LINKS.len(), "{changes:?}");
        for (place, target) in LINKS {
            assert_eq!(
                fs::read_link(d.path().join(place)).unwrap(),
                Path::new(target)
            );
        }
        // Idempotent.
        assert!(ensure(d.path(), "/nix/store/x-system").unwrap().is_empty());
        // A link pointing elsewhere is repointed.
        fs::remove_file(d.path().join("bin")).unwrap();
        std::os::unix::fs::symlink("/elsewhere", d.path().join("bin")).unwrap();
        let changes = ensure(d.path(), "/nix/store/x-system").unwrap();
        assert_eq!(changes, ["pointed /bin at usr/bin"]);
        assert!(!d.path().join("bin.strata-new").exists());
    }

    #[test]
    fn an_empty_directory_is_replaced_and_a_full_one_refused() {
        let d = root_with_generation(true);
        fs::create_dir(d.path().join("lib64")).unwrap();
        fs::create_dir_all(d.path().join("usr/local/bin")).unwrap();
        fs::write(d.path().join("usr/local/bin/tool"), "x").unwrap();
        let e = ensure(d.path(), "/nix/store/x-system")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/usr is a directory with files in it"), "{e}");
        assert!(
            d.path().join("usr/local/bin/tool").exists(),
            "nothing deleted"
        );
        fs::remove_dir_all(d.path().join("usr")).unwrap();
        let changes = ensure(d.path(), "/nix/store/x-system").unwrap();
        assert!(
            changes
                .contains(&"replaced the empty directory /lib64 by a link to usr/lib64".to_owned()),
            "{changes:?}"
        );
        fs::remove_file(d.path().join("sbin")).unwrap();
        fs::write(d.path().join("sbin"), "x").unwrap();
        let e = ensure(d.path(), "/nix/store/x-system")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/sbin is a file"), "{e}");
    }

    #[test]
    fn a_generation_without_a_tree_leaves_the_root_alone() {
        let d = root_with_generation(false);
        assert!(ensure(d.path(), "/nix/store/x-system").unwrap().is_empty());
        assert!(fs::symlink_metadata(d.path().join("usr")).is_err());
    }
}
