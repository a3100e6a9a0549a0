//! File-system primitives that every strata crate shares: the one atomic file write, the one
//! removal of a tree that may be read-only, and the queries of a file system's free space and
//! read-only flag.
//!
//! They live in the lowest crate so that the store, the boot-loader installer, activation and
//! the command line all keep the same crash guarantees; they need no SQLite and stay available
//! without the `local` feature.
//!
//! Must not: know store paths or the database; take locks; retry.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A failed file-system operation, naming the operation and the file.
#[derive(Debug, thiserror::Error)]
#[error("{context} '{}': {source}", path.display())]
pub struct FsError {
    /// What was being done, phrased to precede the path ("cannot write").
    pub context: &'static str,
    /// The file or directory it was done to.
    pub path: PathBuf,
    /// The system's answer.
    pub source: io::Error,
}

fn fs_err<'a>(context: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |source| FsError {
        context,
        path: path.to_owned(),
        source,
    }
}

/// Mode and owner of a file written by [`write_atomic_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Permission bits of the new file; `None` keeps what `open` and the umask give.
    pub mode: Option<u32>,
    /// Owner and group of the new file; `None` leaves them to the writer.
    pub owner: Option<(u32, u32)>,
}

/// Unique per call, not just per process: threads may write the same file at once (the
/// store's `db/schema` when they open a fresh root together).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `data` atomically; see [`write_atomic_with`].
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), FsError> {
    write_atomic_with(path, &mut &*data, WriteOptions::default())
}

/// Replaces `path` with what `data` yields through a temporary file beside it, `fsync` of
/// the file, `rename` and `fsync` of the directory: a reader sees the old file or the new
/// one, and after a crash the file is one of them. The temporary file is removed on failure.
///
/// Errors name the temporary file while it is written and `path` for the rename.
pub fn write_atomic_with(
    path: &Path,
    data: &mut dyn Read,
    opts: WriteOptions,
) -> Result<(), FsError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    // Private until it is complete: the mode is set once the content is there.
    let mut open = fs::OpenOptions::new();
    open.write(true).create_new(true);
    if opts.mode.is_some() {
        open.mode(0o600);
    }
    let res = (|| {
        let mut f = open.open(&tmp)?;
        io::copy(data, &mut f)?;
        f.flush()?;
        if let Some((uid, gid)) = opts.owner {
            std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
        }
        if let Some(mode) = opts.mode {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.sync_all()
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(fs_err("cannot write", &tmp)(e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(fs_err("cannot rename into place", path)(e));
    }
    sync_dir(dir);
    Ok(())
}

/// Makes a rename in `dir` durable. Best effort: the rename has happened, and a file system
/// that cannot sync a directory (or a directory that cannot be opened) must not turn a
/// finished write into a reported failure.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Deletes a tree that may be read-only (as store paths are): directories are made writable
/// before their entries are removed. A missing `path` is not an error.
///
/// Iterative, not recursive: a tree can be nested thousands deep (the staging of a malformed
/// archive that an import refused), deeper than a thread's stack allows recursion.
pub fn delete_tree(path: &Path) -> Result<(), FsError> {
    let md = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(fs_err("cannot stat", path)(e)),
    };
    if !md.is_dir() {
        return fs::remove_file(path).map_err(fs_err("cannot remove", path));
    }
    make_traversable(path, &md)?;
    // The directories being emptied, outermost first.
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.last() {
        let mut sub = None;
        for e in fs::read_dir(dir).map_err(fs_err("cannot read directory", dir))? {
            let p = e.map_err(fs_err("cannot read directory", dir))?.path();
            let md = match fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(fs_err("cannot stat", &p)(e)),
            };
            if md.is_dir() {
                make_traversable(&p, &md)?;
                sub = Some(p);
                break;
            }
            fs::remove_file(&p).map_err(fs_err("cannot remove", &p))?;
        }
        match sub {
            Some(p) => stack.push(p),
            None => {
                fs::remove_dir(dir).map_err(fs_err("cannot remove", dir))?;
                stack.pop();
            }
        }
    }
    Ok(())
}

/// Lets the owner list, enter and change a directory (store directories are read-only).
fn make_traversable(dir: &Path, md: &fs::Metadata) -> Result<(), FsError> {
    if md.mode() & 0o700 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .map_err(fs_err("cannot chmod", dir))?;
    }
    Ok(())
}

/// Flushes every pending write of the file system holding `dir` (`syncfs`): for file systems
/// without a journal (FAT), where a synced file and directory are not yet enough.
pub fn syncfs(dir: &Path) -> Result<(), FsError> {
    let d = fs::File::open(dir).map_err(fs_err("cannot open", dir))?;
    rustix::fs::syncfs(&d)
        .map_err(io::Error::from)
        .map_err(fs_err("cannot flush the file system of", dir))
}

/// Bytes an unprivileged writer may still use in the file system holding `path`.
pub fn free_space(path: &Path) -> io::Result<u64> {
    let st = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// The mount flags (`ST_*`, as `statvfs` reports them) of the file system holding `path`.
pub fn mount_flags(path: &Path) -> io::Result<rustix::fs::StatVfsMountFlags> {
    Ok(rustix::fs::statvfs(path).map_err(io::Error::from)?.f_flag)
}

/// Whether the file system holding `path` is mounted read-only.
pub fn is_read_only(path: &Path) -> io::Result<bool> {
    Ok(mount_flags(path)?.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("f");
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two").expect("write");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        let names: Vec<_> = fs::read_dir(d.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
    }

    #[test]
    fn write_atomic_with_sets_the_mode() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("f");
        let opts = WriteOptions {
            mode: Some(0o640),
            owner: None,
        };
        write_atomic_with(&p, &mut &b"x"[..], opts).expect("write");
        let mode = fs::metadata(&p).expect("stat").mode() & 0o7777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn write_atomic_names_the_file_it_could_not_write() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("missing/f");
        let e = write_atomic(&p, b"x").expect_err("no directory");
        assert!(e.path.starts_with(d.path().join("missing")), "{e}");
        assert!(e.to_string().starts_with("cannot write"), "{e}");
    }

    #[test]
    fn delete_tree_removes_read_only_directories() {
        let d = tempfile::tempdir().expect("tempdir");
        let t = d.path().join("t");
        fs::create_dir_all(t.join("a/b")).expect("mkdir");
        fs::write(t.join("a/b/f"), b"x").expect("write");
        fs::set_permissions(t.join("a/b"), fs::Permissions::from_mode(0o555)).expect("chmod");
        fs::set_permissions(t.join("a"), fs::Permissions::from_mode(0o555)).expect("chmod");
        delete_tree(&t).expect("delete");
        assert!(!t.exists());
        delete_tree(&t).expect("a missing tree is fine");
    }

    #[test]
    fn delete_tree_survives_depth_beyond_recursion() {
        let d = tempfile::tempdir().expect("tempdir");
        let top = d.path().join("t");
        // Short names keep the path within PATH_MAX; relative creation keeps each call short.
        fs::create_dir(&top).expect("mkdir");
        let mut p = top.clone();
        for _ in 0..1500 {
            p.push("d");
        }
        fs::create_dir_all(&p).expect("deep mkdir");
        fs::write(p.join("f"), b"x").expect("write");
        // A 64 KiB stack would not hold 1,500 frames of a recursive walk.
        let t2 = top.clone();
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || delete_tree(&t2).expect("delete"))
            .expect("spawn")
            .join()
            .expect("join");
        assert!(!top.exists());
    }

    #[test]
    fn statvfs_queries_answer() {
        let d = tempfile::tempdir().expect("tempdir");
        assert!(free_space(d.path()).expect("free") > 0);
        assert!(!is_read_only(d.path()).expect("flags"));
        syncfs(d.path()).expect("syncfs");
    }
}
