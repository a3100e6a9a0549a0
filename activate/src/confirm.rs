//! The watchdog of a `--confirm-within` switch: a process in a session of its own that waits
//! for the deadline and then reverts the switch unless `strata confirm` committed it
//! ([`crate::switch::revert_unconfirmed`]).
//!
//! It runs the `strata` program itself (with the arguments the caller gives), so that the
//! watchdog is the same code as the verbs, and writes what it did to
//! `var/log/strata/confirm.log` below the machine's root.
//!
//! Must not: decide anything about the switch: the pending record decides.

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::switch::{revert_unconfirmed, Outcome, SwitchError, SwitchOptions};
use crate::{io_err, ActivateError};

/// The watchdog's log, below the root.
pub const LOG: &str = "var/log/strata/confirm.log";

/// Starts `program args...` as the watchdog: in a session of its own, so that it outlives
/// the terminal or the SSH connection the switch ran from, with its output appended to
/// [`LOG`].
pub fn spawn_watchdog(root: &Path, program: &Path, args: &[String]) -> Result<(), ActivateError> {
    let log_path = root.join(LOG);
    if let Some(dir) = log_path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io_err(&log_path))?;
    let log2 = log.try_clone().map_err(io_err(&log_path))?;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(log).stderr(log2);
    // SAFETY: setsid is async-signal-safe, and nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(io_err(program))?;
    Ok(())
}

/// The watchdog's work: waits until `deadline` (seconds since the epoch), then reverts the
/// switch to `target` if it is still unconfirmed. `Ok(None)` when it was confirmed (or
/// replaced) meanwhile.
pub fn revert_at(
    root: &Path,
    target: &str,
    deadline: u64,
    opts: &SwitchOptions,
) -> Result<Option<Outcome>, SwitchError> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    std::thread::sleep(Duration::from_secs(deadline.saturating_sub(now)));
    revert_unconfirmed(root, target, opts)
}
