//! Trees on disk as the store treats them: the canonical metadata of a store path, copying a
//! tree by hard links, and the wrappers of [`crate::fs`]'s deletion and atomic write under
//! the names callers know.
//!
//! Must not: touch the database.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::{io_err, StoreError};

/// Gives a tree the canonical metadata of a store path: read-only modes (0444, or 0555 for
/// executables and directories), no setuid/setgid/sticky bits, and mtime 1.
pub fn canonicalise(path: &Path) -> Result<(), StoreError> {
    let md = fs::symlink_metadata(path).map_err(io_err("cannot stat", path))?;
    if md.is_dir() {
        for e in fs::read_dir(path).map_err(io_err("cannot read directory", path))? {
            let e = e.map_err(io_err("cannot read directory", path))?;
            canonicalise(&e.path())?;
        }
    }
    if !md.file_type().is_symlink() {
        let mode = md.mode() & 0o7777;
        let want = if md.is_dir() || mode & 0o100 != 0 {
            0o555
        } else {
            0o444
        };
        if mode != want {
            fs::set_permissions(path, fs::Permissions::from_mode(want))
                .map_err(io_err("cannot chmod", path))?;
        }
    }
    if md.mtime() != 1 || md.mtime_nsec() != 0 {
        canonicalise_times_only(path)?;
    }
    Ok(())
}

/// Sets a single inode's times to the canonical mtime 1, without touching anything below it.
pub(crate) fn canonicalise_times_only(path: &Path) -> Result<(), StoreError> {
    let one = rustix::fs::Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: one,
        last_modification: one,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
    .map_err(io_err("cannot set the times of", path))
}

/// Deletes a tree that may be read-only (as store paths are); [`crate::fs::delete_tree`],
/// kept here for the callers that know it under this name.
pub fn delete_tree(path: &Path) -> Result<(), StoreError> {
    Ok(crate::fs::delete_tree(path)?)
}

/// Recreates the tree `src` at `dst` (which must not exist): directories made, symlinks
/// copied, regular files hard-linked (copied when the two are on different file systems),
/// modes kept.
pub fn link_or_copy_tree(src: &Path, dst: &Path) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(src).map_err(io_err("cannot read", src))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let t = fs::read_link(src).map_err(io_err("cannot read the link", src))?;
        std::os::unix::fs::symlink(&t, dst).map_err(io_err("cannot create the link", dst))?;
    } else if ft.is_dir() {
        fs::create_dir(dst).map_err(io_err("cannot create", dst))?;
        let mut names: Vec<_> = fs::read_dir(src)
            .map_err(io_err("cannot read", src))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_err("cannot read", src))?;
        names.sort();
        for n in names {
            link_or_copy_tree(&src.join(&n), &dst.join(&n))?;
        }
        fs::set_permissions(dst, meta.permissions()).map_err(io_err("cannot chmod", dst))?;
    } else if fs::hard_link(src, dst).is_err() {
        fs::copy(src, dst).map_err(io_err("cannot copy to", dst))?;
    }
    Ok(())
}

/// Best-effort removal of a staging tree; failures only matter to GC, which retries.
pub(crate) fn remove_tree(path: &Path) {
    if let Err(e) = delete_tree(path) {
        tracing::debug!("could not remove {}: {e}", path.display());
    }
}

/// Writes a small file atomically; [`crate::fs::write_atomic`] (which also syncs the
/// directory), kept here for the callers that know it under this name.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    Ok(crate::fs::write_atomic(path, data)?)
}
