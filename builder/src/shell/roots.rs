//! While a shell runs, what it uses is a GC root: links in
//! `<state>/gcroots/shells/<pid>-<start>/` (the `strata` process that waits for the shell,
//! and its start time, so a reused process id is not mistaken for it), one a store path. The
//! directory goes when the shell ends ([`ShellRoots`]'s drop); one left by a `strata` that
//! was killed is removed by the next shell that starts ([`prune`]), since its process is gone.
//!
//! Must not: remove the roots of a process that still runs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use strata_store::{LocalStore, StorePath};

/// The directory of the running shells' roots, below the store's state directory.
pub const SHELL_ROOTS: &str = "gcroots/shells";

/// The start time of process `pid` (clock ticks after boot, field 22 of `/proc/<pid>/stat`).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The name of the roots directory of process `pid` started at `start`.
fn dir_name(pid: u32, start: u64) -> String {
    format!("{pid}-{start}")
}

/// Whether the roots directory `name` belongs to a process that is gone.
fn is_stale(name: &str, start_of: &dyn Fn(u32) -> Option<u64>) -> bool {
    let Some((pid, start)) = name.split_once('-') else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    start_of(pid) != Some(start)
}

/// Removes the roots of shells whose `strata` process is gone.
pub fn prune(store: &LocalStore) {
    let dir = store.state_dir().join(SHELL_ROOTS);
    let Ok(rd) = fs::read_dir(&dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if is_stale(&name, &start_time) {
            tracing::debug!(root = %e.path().display(), "removing the roots of a shell that is gone");
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// The roots of one running shell; dropping it removes them.
#[derive(Debug)]
pub struct ShellRoots {
    dir: PathBuf,
}

impl ShellRoots {
    /// Makes `paths` GC roots of this process's shell.
    pub fn create(store: &LocalStore, paths: &[StorePath]) -> io::Result<ShellRoots> {
        let pid = std::process::id();
        let start = start_time(pid).unwrap_or(0);
        let dir = store
            .state_dir()
            .join(SHELL_ROOTS)
            .join(dir_name(pid, start));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let roots = ShellRoots { dir };
        for (i, p) in paths.iter().enumerate() {
            std::os::unix::fs::symlink(store.print(p), roots.dir.join(i.to_string()))?;
        }
        Ok(roots)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ShellRoots {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), "cannot remove the shell's GC roots: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_roots_of_processes_that_are_gone_are_stale() {
        let start_of = |pid: u32| (pid == 10).then_some(500);
        assert!(!is_stale("10-500", &start_of), "running");
        assert!(is_stale("10-499", &start_of), "the id was reused");
        assert!(is_stale("11-500", &start_of), "gone");
        assert!(!is_stale("notes", &start_of), "not a shell's");
        assert!(!is_stale("x-1", &start_of));
    }

    #[test]
    fn this_process_has_a_start_time() {
        let me = start_time(std::process::id()).unwrap();
        assert_eq!(start_time(std::process::id()), Some(me));
        assert!(!is_stale(&dir_name(std::process::id(), me), &start_time));
    }
}
