//! System calls that the `strata` command needs on a running strata machine, kept beside
//! PID 1's own so that the command line has no `unsafe`: a private mount namespace in which
//! the read-only store (strata-init binds it so) is writable, and a new session for a process
//! that must outlive the command's terminal.
//!
//! Must not: be called by PID 1 itself (it never leaves the initial mount namespace).

use std::ffi::CString;
use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;

/// Moves the calling process into a private mount namespace and remounts the bind mount at
/// `path` writable there, as Nix does for its store. Nothing changes for other processes.
/// Needs `CAP_SYS_ADMIN`.
pub fn writable_in_private_namespace(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))?;
    let root = c"/";
    // SAFETY: unshare and mount take no pointers but NUL-terminated paths that outlive the
    // calls (or null where the kernel allows it); the namespace change affects this process
    // only, before it has started any thread that relies on the old one.
    let failed = unsafe {
        libc::unshare(libc::CLONE_NEWNS) < 0
            || libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) < 0
            || libc::mount(
                std::ptr::null(),
                c.as_ptr(),
                std::ptr::null(),
                libc::MS_REMOUNT | libc::MS_BIND,
                std::ptr::null(),
            ) < 0
    };
    if failed {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes the process that `cmd` spawns the leader of a new session (`setsid` between fork
/// and exec), so that it is not killed with the terminal of the one that started it.
pub fn new_session_on_spawn(cmd: &mut Command) -> &mut Command {
    // SAFETY: the hook runs between fork and exec and calls only setsid, which is
    // async-signal-safe, and reads errno; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }
}
