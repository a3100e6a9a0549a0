//! The locks that protect a store's staging and its collection, and the staging trees
//! (`.tmp-*`) that killed processes leave behind.
//!
//! `gc.lock` is taken shared by every add, import and build while it stages, and exclusively
//! by the collector; `db/open.lock` serialises opening a fresh database.

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use super::{delete_tree, io_err, LocalStore, StoreError};

/// Takes a `flock` on a lock file for as long as it lives.
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: fs::File,
}

/// The process that made a staging tree, from its name: `.tmp-<what>-<pid>-...` (the first
/// all-digit part after the prefix).
pub(super) fn temporary_owner(name: &str) -> Option<u32> {
    name.strip_prefix(".tmp-")?
        .split('-')
        .find(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()
}

fn open_lock_file(path: &Path) -> Result<fs::File, StoreError> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err("cannot open lock file", path))
}

impl FileLock {
    /// The exclusive lock if no one holds the lock now; `None` if someone does.
    pub(crate) fn try_exclusive(path: &Path) -> Result<Option<FileLock>, StoreError> {
        let file = open_lock_file(path)?;
        match rustix::fs::flock(
            file.as_fd(),
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        ) {
            Ok(()) => Ok(Some(FileLock { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(io_err("cannot lock", path)(io::Error::from(e))),
        }
    }

    pub(crate) fn take(path: &Path, exclusive: bool) -> Result<FileLock, StoreError> {
        let file = open_lock_file(path)?;
        let op = if exclusive {
            rustix::fs::FlockOperation::LockExclusive
        } else {
            rustix::fs::FlockOperation::LockShared
        };
        rustix::fs::flock(file.as_fd(), op)
            .map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
            .map_err(io_err("cannot lock", path))?;
        Ok(FileLock { _file: file })
    }
}

impl LocalStore {
    /// Removes the staging trees (`.tmp-*`) that processes which are gone left in the store
    /// directory: a build killed while it unpacks a kernel leaves hundreds of megabytes, which
    /// would otherwise wait for the next collection. Only when no other process holds the GC
    /// lock (every add, import and build holds it shared while it stages), so nothing removed
    /// can be in use; and only the trees of process IDs that no longer run. Best effort: a
    /// read-only store, or one in use, is left alone.
    pub(super) fn remove_stale_temporaries(&self) {
        let Ok(Some(_lock)) = FileLock::try_exclusive(&self.state_dir.join("gc.lock")) else {
            return;
        };
        let Ok(entries) = fs::read_dir(&self.real_store) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(temporary_owner) else {
                continue;
            };
            if Path::new("/proc").join(pid.to_string()).exists() {
                continue;
            }
            let path = e.path();
            match delete_tree(&path) {
                Ok(()) => tracing::debug!(path = %path.display(), "removed a stale staging tree"),
                Err(e) => tracing::debug!(path = %path.display(), "cannot remove: {e}"),
            }
        }
    }

    /// Registers new paths with this time (seconds since the epoch) instead of the clock's,
    /// so that a store made for an image is the same on every build.
    pub fn set_registration_time(&mut self, time: Option<i64>) {
        self.registration_time = time;
    }
}
