//! The watchdog of a `--confirm-within` switch: a process in a session of its own that waits
//! for the deadline and then reverts the switch unless `strata confirm` committed it
//! ([`crate::switch::revert_unconfirmed`]).
//!
//! It runs the `strata` program itself (with the arguments the caller gives), so that the
//! watchdog is the same code as the verbs, and writes what it did to
//! `var/log/strata/confirm.log` below the machine's root. Starting it in a new session is
//! the caller's (`strata_init::host::new_session_on_spawn`): this crate makes no system calls
//! that need `unsafe`.
//!
//! Must not: decide anything about the switch: the pending record decides.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::switch::{revert_unconfirmed, Outcome, SwitchError, SwitchOptions};
use crate::{io_err, ActivateError};

/// The watchdog's log, below the root.
pub const LOG: &str = "var/log/strata/confirm.log";

/// The command that runs `program args...` as the watchdog, its output appended to [`LOG`].
/// The caller starts it in a session of its own (so that it outlives the terminal or the SSH
/// connection the switch ran from): that needs a system call this crate does not make.
pub fn watchdog_command(
    root: &Path,
    program: &Path,
    args: &[String],
) -> Result<Command, ActivateError> {
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
    Ok(cmd)
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
