//! What every image writer needs from the host: programs from the PATH, pinned time stamps,
//! and names to write a file under before it is renamed into place.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{io_err, Error};

/// The program `name` from the PATH, or the error `missing` says.
pub(crate) fn find_tool(name: &str, missing: &str) -> Result<PathBuf, Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Other(missing.to_owned()))
}

/// Runs `cmd` (`what` names it in errors); a failure gives its standard error, or its output
/// when that is empty.
pub(crate) fn run_tool(cmd: &mut Command, what: &str) -> Result<(), Error> {
    let o = cmd
        .output()
        .map_err(|e| Error::Other(format!("cannot run {what}: {e}")))?;
    if !o.status.success() {
        let mut text = String::from_utf8_lossy(&o.stderr).trim().to_owned();
        if text.is_empty() {
            text = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        }
        return Err(Error::Other(format!(
            "{what} failed ({}): {text}",
            o.status
        )));
    }
    Ok(())
}

/// Sets the time of everything below `dir` (links themselves included) to `epoch`, except
/// what is below `store` (the store paths, which keep the store's time stamp).
pub(crate) fn pin_times(dir: &Path, store: Option<&Path>, epoch: u64) -> Result<(), Error> {
    let t = rustix::fs::Timespec {
        tv_sec: epoch as i64,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    let mut todo = vec![dir.to_path_buf()];
    let mut all = Vec::new();
    while let Some(d) = todo.pop() {
        all.push(d.clone());
        if Some(d.as_path()) == store {
            continue;
        }
        for e in fs::read_dir(&d).map_err(io_err("cannot read", &d))? {
            let e = e.map_err(io_err("cannot read", &d))?;
            if e.file_type()
                .map_err(io_err("cannot read", &e.path()))?
                .is_dir()
            {
                todo.push(e.path());
            } else {
                all.push(e.path());
            }
        }
    }
    for p in all {
        rustix::fs::utimensat(
            rustix::fs::CWD,
            &p,
            &times,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_err("cannot set the time of", &p)(e.into()))?;
    }
    Ok(())
}

/// A name in `path`'s directory for writing it before a rename: hidden, and unique to this
/// process and call, so that two runs writing the same file at once do not share one.
pub(crate) fn temp_beside(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.strata-tmp-{}-{n}", std::process::id()))
}
