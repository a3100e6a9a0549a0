//! Entering the shell: a child process unshares a user and a mount namespace (its own user id
//! and group id mapped to themselves, so files it creates are the user's and nothing needs
//! root or a setuid helper), performs the planned [`Step`]s, makes the new root its root
//! (`pivot_root`), returns to the directory it was started in (else `$HOME`, else `/`) and
//! executes the shell. The calling `strata` waits for it, ignoring the terminal's interrupt,
//! quit and hang-up signals meanwhile (they are the shell's to handle), and returns its
//! status: its exit code, or 128 + the signal that killed it.
//!
//! Everything the child does is prepared before the fork; after it the child makes only
//! async-signal-safe system calls on that memory and reports a failure as a stage, an errno
//! and a path on a close-on-exec pipe, which is empty when the shell started.
//!
//! Must not: change anything outside the new namespaces.

use std::ffi::{CString, OsString};
use std::io::{self, Read as _};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use super::mounts::{Layout, Step};

/// Why the shell could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("a path or argument holds a NUL byte: {0:?}")]
    Nul(OsString),
    #[error("cannot {what}: {source}")]
    Io {
        what: &'static str,
        source: io::Error,
    },
    /// The kernel refused the user namespace; the message says how to allow it.
    #[error("{0}")]
    UserNamespace(String),
    #[error("cannot set up the shell's file system: {what}{path}: {source}")]
    Setup {
        what: &'static str,
        path: String,
        source: io::Error,
    },
    #[error("cannot start the shell '{program}': {source}")]
    Exec { program: String, source: io::Error },
}

/// The stages the child reports a failure of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Stage {
    Unshare = 1,
    UidMap,
    GidMap,
    Private,
    Mount,
    Mkdir,
    Touch,
    Symlink,
    Pivot,
    Exec,
}

impl Stage {
    fn from_u8(b: u8) -> Option<Stage> {
        Some(match b {
            1 => Stage::Unshare,
            2 => Stage::UidMap,
            3 => Stage::GidMap,
            4 => Stage::Private,
            5 => Stage::Mount,
            6 => Stage::Mkdir,
            7 => Stage::Touch,
            8 => Stage::Symlink,
            9 => Stage::Pivot,
            10 => Stage::Exec,
            _ => return None,
        })
    }

    fn what(self) -> &'static str {
        match self {
            Stage::Unshare => "create the user and mount namespaces",
            Stage::UidMap => "map the user id",
            Stage::GidMap => "map the group id",
            Stage::Private => "make the mounts private",
            Stage::Mount => "mount ",
            Stage::Mkdir => "create the directory ",
            Stage::Touch => "create the file ",
            Stage::Symlink => "create the link ",
            Stage::Pivot => "switch to the new root",
            Stage::Exec => "execute ",
        }
    }
}

/// A step with its strings made C strings.
enum CStep {
    Mount {
        src: Option<CString>,
        dst: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
        optional: bool,
    },
    Mkdir(CString),
    Touch(CString),
    Symlink {
        target: CString,
        link: CString,
    },
}

fn cstr(s: impl AsRef<std::ffi::OsStr>) -> Result<CString, NsError> {
    CString::new(s.as_ref().as_bytes()).map_err(|_| NsError::Nul(s.as_ref().to_owned()))
}

fn cstep(s: &Step) -> Result<CStep, NsError> {
    Ok(match s {
        Step::Mount {
            src,
            dst,
            fstype,
            flags,
            data,
            optional,
        } => CStep::Mount {
            src: src.as_ref().map(cstr).transpose()?,
            dst: cstr(dst)?,
            fstype: fstype.map(cstr).transpose()?,
            flags: *flags,
            data: data.map(cstr).transpose()?,
            optional: *optional,
        },
        Step::Mkdir(p) => CStep::Mkdir(cstr(p)?),
        Step::Touch(p) => CStep::Touch(cstr(p)?),
        Step::Symlink { target, link } => CStep::Symlink {
            target: cstr(target)?,
            link: cstr(link)?,
        },
    })
}

/// What to run in the new namespaces.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    pub layout: &'a Layout,
    pub program: &'a Path,
    pub argv: &'a [OsString],
    pub env: &'a [(OsString, OsString)],
    /// Directories to start in, the first that exists in the shell.
    pub dirs: &'a [PathBuf],
}

/// Everything the child reads, prepared before the fork.
struct Prepared {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    steps: Vec<CStep>,
    root: CString,
    detach: Option<CString>,
    dirs: Vec<CString>,
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

/// The signals `strata` leaves to the shell while it waits.
const LEFT_TO_THE_SHELL: [libc::c_int; 3] = [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP];

/// Starts the shell and waits for it; returns its status (see the module documentation).
pub fn run(launch: &Launch<'_>) -> Result<i32, NsError> {
    // SAFETY: getuid and getgid cannot fail and have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let mut env = Vec::new();
    for (k, v) in launch.env {
        let mut kv = k.clone();
        kv.push("=");
        kv.push(v);
        env.push(cstr(&kv)?);
    }
    let p = Prepared {
        uid_map: format!("{uid} {uid} 1\n").into_bytes(),
        gid_map: format!("{gid} {gid} 1\n").into_bytes(),
        steps: launch
            .layout
            .steps
            .iter()
            .map(cstep)
            .collect::<Result<_, _>>()?,
        root: cstr(&launch.layout.root)?,
        detach: launch.layout.detach.as_ref().map(cstr).transpose()?,
        dirs: launch.dirs.iter().map(cstr).collect::<Result<_, _>>()?,
        program: cstr(launch.program)?,
        argv: launch.argv.iter().map(cstr).collect::<Result<_, _>>()?,
        envp: env,
    };
    let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());

    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(NsError::Io {
            what: "create a pipe",
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    let (err_r, err_w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

    // Ignored before the fork, so no interrupt can end `strata` between the fork and the
    // wait; the child sets them back before it executes the shell.
    let mut saved = [libc::SIG_DFL; 3];
    for (i, sig) in LEFT_TO_THE_SHELL.iter().enumerate() {
        // SAFETY: SIG_IGN is a valid disposition for these signals.
        saved[i] = unsafe { libc::signal(*sig, libc::SIG_IGN) };
    }
    let restore = || {
        for (i, sig) in LEFT_TO_THE_SHELL.iter().enumerate() {
            // SAFETY: `saved` holds the dispositions signal() returned for these signals.
            unsafe { libc::signal(*sig, saved[i]) };
        }
    };
    // SAFETY: fork has no preconditions. The child runs only `child_main`, which makes
    // async-signal-safe system calls on memory prepared before the fork and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        restore();
        return Err(NsError::Io {
            what: "fork",
            source: io::Error::last_os_error(),
        });
    }
    if pid == 0 {
        use std::os::fd::AsRawFd as _;
        child_main(&p, &argv, &envp, err_w.as_raw_fd());
    }
    drop(err_w);
    let mut report = Vec::new();
    let _ = std::fs::File::from(err_r).read_to_end(&mut report);
    let status = wait(pid);
    restore();
    if !report.is_empty() {
        return Err(failure(&report, launch.program));
    }
    status
}

/// Waits for `pid` and returns its shell-style status.
fn wait(pid: libc::pid_t) -> Result<i32, NsError> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid out-pointer; `pid` is our child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            if libc::WIFEXITED(status) {
                return Ok(libc::WEXITSTATUS(status));
            }
            if libc::WIFSIGNALED(status) {
                return Ok(128 + libc::WTERMSIG(status));
            }
            continue;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(NsError::Io {
                what: "wait for the shell",
                source: e,
            });
        }
    }
}

/// The error the child reported: `[stage, errno (4 bytes, native order), path...]`.
fn failure(report: &[u8], program: &Path) -> NsError {
    let stage = report.first().and_then(|b| Stage::from_u8(*b));
    let errno = report
        .get(1..5)
        .and_then(|b| b.try_into().ok())
        .map_or(0, i32::from_ne_bytes);
    let path = String::from_utf8_lossy(report.get(5..).unwrap_or_default()).into_owned();
    let source = io::Error::from_raw_os_error(errno);
    match stage {
        Some(Stage::Unshare | Stage::UidMap | Stage::GidMap) => NsError::UserNamespace(
            user_namespace_advice(stage.map_or("", Stage::what), errno, &read_sysctl),
        ),
        Some(Stage::Private) if errno == libc::EPERM => NsError::UserNamespace(
            user_namespace_advice(Stage::Private.what(), errno, &read_sysctl),
        ),
        Some(Stage::Exec) => NsError::Exec {
            program: program.display().to_string(),
            source,
        },
        Some(s) => NsError::Setup {
            what: s.what(),
            path,
            source,
        },
        None => NsError::Setup {
            what: "an unknown step",
            path,
            source,
        },
    }
}

/// A sysctl's value (`kernel.unprivileged_userns_clone` is `/proc/sys/kernel/...`).
fn read_sysctl(name: &str) -> Option<String> {
    let path = Path::new("/proc/sys").join(name.replace('.', "/"));
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// What to tell a user whose kernel refused the user namespace at `what` with `errno`,
/// from the sysctls that decide it.
pub fn user_namespace_advice(
    what: &str,
    errno: i32,
    sysctl: &dyn Fn(&str) -> Option<String>,
) -> String {
    let err = io::Error::from_raw_os_error(errno);
    let head =
        format!("strata shell cannot {what} ({err}): it needs unprivileged user namespaces, and");
    let is = |name: &str, v: &str| sysctl(name).as_deref() == Some(v);
    if is("kernel.unprivileged_userns_clone", "0") {
        return format!(
            "{head} this kernel has them disabled (kernel.unprivileged_userns_clone = 0); \
             enable them as root with `sysctl -w kernel.unprivileged_userns_clone=1` (and a \
             file in /etc/sysctl.d to keep it)"
        );
    }
    if is("user.max_user_namespaces", "0") {
        return format!(
            "{head} this host allows none (user.max_user_namespaces = 0); enable them as root \
             with `sysctl -w user.max_user_namespaces=15000` (and a file in /etc/sysctl.d to \
             keep it)"
        );
    }
    if is("kernel.apparmor_restrict_unprivileged_userns", "1") {
        return format!(
            "{head} AppArmor restricts them (kernel.apparmor_restrict_unprivileged_userns = 1); \
             allow them as root with `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, \
             or give strata an AppArmor profile with `userns,`"
        );
    }
    if errno == libc::ENOSPC {
        let max = sysctl("user.max_user_namespaces").unwrap_or_else(|| "?".into());
        return format!(
            "{head} the limit on user namespaces is reached (user.max_user_namespaces = {max}); \
             raise it as root with `sysctl -w user.max_user_namespaces=15000`"
        );
    }
    format!(
        "{head} the kernel refused one; check that they are enabled \
         (sysctl kernel.unprivileged_userns_clone=1 where it exists, user.max_user_namespaces \
         above 0) and that no security module or container forbids them"
    )
}

/// Writes `[stage, errno, path]` to the error pipe and exits. Async-signal-safe.
fn fail(err: libc::c_int, stage: Stage, path: &[u8]) -> ! {
    // SAFETY: errno is thread-local; write and _exit are async-signal-safe and the buffers
    // are valid for their lengths.
    unsafe {
        let errno = *libc::__errno_location();
        let mut head = [0u8; 5];
        head[0] = stage as u8;
        head[1..].copy_from_slice(&errno.to_ne_bytes());
        libc::write(err, head.as_ptr().cast(), head.len());
        libc::write(err, path.as_ptr().cast(), path.len());
        libc::_exit(127)
    }
}

/// Writes `data` to the file `path`; fails with `stage`. Async-signal-safe.
fn write_file(err: libc::c_int, path: &std::ffi::CStr, data: &[u8], stage: Stage, optional: bool) {
    // SAFETY: `path` is NUL-terminated and `data` valid for reads; plain system calls.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            if optional && *libc::__errno_location() == libc::ENOENT {
                return;
            }
            fail(err, stage, path.to_bytes());
        }
        if libc::write(fd, data.as_ptr().cast(), data.len()) != data.len() as isize {
            fail(err, stage, path.to_bytes());
        }
        libc::close(fd);
    }
}

/// The child: namespaces, mounts, the new root, the shell. Never returns.
fn child_main(
    p: &Prepared,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    err: libc::c_int,
) -> ! {
    let opt = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: only system call wrappers (async-signal-safe), on memory prepared before the
    // fork, which the child's copy of the address space still holds; nothing allocates.
    unsafe {
        for sig in LEFT_TO_THE_SHELL {
            libc::signal(sig, libc::SIG_DFL);
        }
        if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0 {
            fail(err, Stage::Unshare, b"");
        }
        // Needed before an unprivileged process may write its gid_map (absent on old kernels).
        write_file(err, c"/proc/self/setgroups", b"deny", Stage::GidMap, true);
        write_file(err, c"/proc/self/uid_map", &p.uid_map, Stage::UidMap, false);
        write_file(err, c"/proc/self/gid_map", &p.gid_map, Stage::GidMap, false);
        // The host's later mounts still reach the shell; nothing here reaches the host.
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        ) != 0
        {
            fail(err, Stage::Private, b"/");
        }
        for step in &p.steps {
            match step {
                CStep::Mount {
                    src,
                    dst,
                    fstype,
                    flags,
                    data,
                    optional,
                } => {
                    let r = libc::mount(
                        opt(src),
                        dst.as_ptr(),
                        opt(fstype),
                        *flags,
                        opt(data).cast(),
                    );
                    if r != 0 && !optional {
                        fail(err, Stage::Mount, dst.to_bytes());
                    }
                }
                CStep::Mkdir(path) => {
                    if libc::mkdir(path.as_ptr(), 0o755) != 0
                        && *libc::__errno_location() != libc::EEXIST
                    {
                        fail(err, Stage::Mkdir, path.to_bytes());
                    }
                }
                CStep::Touch(path) => {
                    let fd = libc::open(
                        path.as_ptr(),
                        libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
                        0o644,
                    );
                    if fd < 0 {
                        fail(err, Stage::Touch, path.to_bytes());
                    }
                    libc::close(fd);
                }
                CStep::Symlink { target, link } => {
                    if libc::symlink(target.as_ptr(), link.as_ptr()) != 0 {
                        fail(err, Stage::Symlink, link.to_bytes());
                    }
                }
            }
        }
        let dot = c".";
        if libc::chdir(p.root.as_ptr()) != 0
            || libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) != 0
            || libc::umount2(dot.as_ptr(), libc::MNT_DETACH) != 0
        {
            fail(err, Stage::Pivot, p.root.to_bytes());
        }
        if let Some(d) = &p.detach {
            // The copy of the new root a bound host directory brought along; harmless if it
            // cannot go.
            libc::umount2(d.as_ptr(), libc::MNT_DETACH);
        }
        let mut entered = false;
        for d in &p.dirs {
            if libc::chdir(d.as_ptr()) == 0 {
                entered = true;
                break;
            }
        }
        if !entered {
            libc::chdir(c"/".as_ptr());
        }
        libc::execve(p.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail(err, Stage::Exec, p.program.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advice_names_the_sysctl_that_forbids_user_namespaces() {
        let with = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let debian = user_namespace_advice(
            "create the user and mount namespaces",
            libc::EPERM,
            &with(&[
                ("kernel.unprivileged_userns_clone", "0"),
                ("user.max_user_namespaces", "100"),
            ]),
        );
        assert!(
            debian.contains("kernel.unprivileged_userns_clone = 0")
                && debian.contains("sysctl -w kernel.unprivileged_userns_clone=1"),
            "{debian}"
        );
        let none = user_namespace_advice(
            "create the user and mount namespaces",
            libc::ENOSPC,
            &with(&[("user.max_user_namespaces", "0")]),
        );
        assert!(
            none.contains("user.max_user_namespaces = 0")
                && none.contains("sysctl -w user.max_user_namespaces=15000"),
            "{none}"
        );
        let full = user_namespace_advice(
            "x",
            libc::ENOSPC,
            &with(&[("user.max_user_namespaces", "3")]),
        );
        assert!(
            full.contains("limit on user namespaces is reached"),
            "{full}"
        );
        let apparmor = user_namespace_advice(
            "make the mounts private",
            libc::EPERM,
            &with(&[("kernel.apparmor_restrict_unprivileged_userns", "1")]),
        );
        assert!(apparmor.contains("AppArmor"), "{apparmor}");
        let other = user_namespace_advice("x", libc::EINVAL, &with(&[]));
        assert!(other.contains("user.max_user_namespaces"), "{other}");
    }

    #[test]
    fn reports_are_decoded() {
        let mut r = vec![Stage::Mount as u8];
        r.extend_from_slice(&libc::ENOENT.to_ne_bytes());
        r.extend_from_slice(b"/usr/usr");
        let e = failure(&r, Path::new("/usr/bin/bash")).to_string();
        assert_eq!(
            e,
            format!(
                "cannot set up the shell's file system: mount /usr/usr: {}",
                io::Error::from_raw_os_error(libc::ENOENT)
            )
        );
        let mut r = vec![Stage::Exec as u8];
        r.extend_from_slice(&libc::ENOENT.to_ne_bytes());
        assert!(failure(&r, Path::new("/usr/bin/zsh"))
            .to_string()
            .starts_with("cannot start the shell '/usr/bin/zsh'"));
    }
}
