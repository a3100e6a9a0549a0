//! The build sandbox, made of Linux namespaces. The calling process forks a helper that
//! unshares a new user namespace (the caller's uid and gid appear inside as 1000 and 100,
//! `nixbld`), mount, PID, UTS, IPC and, unless the derivation is fixed-output, network
//! namespaces. The helper forks the builder, which is PID 1 of the new PID namespace: it mounts
//! a fresh tmpfs root holding the logical store directory (a staging directory of the physical
//! store, so the outputs it creates can later be renamed into place) with only the closure of
//! the declared inputs bind-mounted read-only into it, `/build` (the build directory, also
//! `/tmp`), a minimal `/dev`, a fresh `/proc` and `/etc/{passwd,group,hosts}`; it pivots into
//! that root and executes the builder, which loses all capabilities as it is not root inside.
//!
//! **FHS mode.** A derivation whose attribute `__strataFhs` names a store path (a tree made
//! of Debian packages, holding `usr/`) gets that tree's `usr` bind-mounted read-only on
//! `/usr`, the links `/bin`, `/sbin`, `/lib` and `/lib64` into it, and, when the tree has
//! `usr/lib/strata/ld.so.cache`, `/etc/ld.so.cache` pointing there: Debian's dynamic programs
//! (`visudo`, `localedef`) then find their loader, libraries and data where they expect them.
//! The tree must be one of the derivation's inputs (or in their closure), so it is mounted
//! anyway and its path is part of the derivation's hash.
//! Killing the helper kills the builder (parent-death signal), and the death of PID 1 makes
//! the kernel kill everything else in the namespace.
//!
//! Must not: register anything in the store or judge a build's outputs (that is
//! [`crate::build`], which runs the sandbox and registers what it leaves).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fs;
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_store::derivation::Derivation;
use strata_store::{Hash, HashAlgo, LocalStore, StorePath};

/// The uid and gid the builder has inside the sandbox.
pub const BUILD_UID: u32 = 1000;
pub const BUILD_GID: u32 = 100;

/// A step of setting up or running the sandbox failed.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct SandboxError {
    pub context: String,
    #[source]
    pub source: io::Error,
}

fn io_ctx(context: impl Into<String>) -> impl FnOnce(io::Error) -> SandboxError {
    let context = context.into();
    move |source| SandboxError { context, source }
}

/// What bounds a sandboxed build: `NIX_BUILD_CORES` (0: the number of CPUs), a timeout and a
/// flag another thread sets to kill the build.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub cores: u32,
    pub timeout: Option<Duration>,
    pub cancel: Option<Arc<AtomicBool>>,
}

/// What the build process does after forking, prepared in advance so that the forked
/// processes only read memory and make system calls.
#[derive(Debug)]
enum Step {
    Mount {
        src: Option<CString>,
        dst: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
        optional: bool,
    },
    Mkdir(CString),
    Touch {
        path: CString,
        optional: bool,
    },
    Write {
        path: CString,
        data: Vec<u8>,
    },
    Symlink {
        target: CString,
        link: CString,
    },
}

#[derive(Debug)]
pub(crate) enum Outcome {
    Exited(i32),
    Signalled(i32),
    TimedOut(Duration),
    Cancelled,
    SetupFailed(String),
}

#[derive(Debug)]
pub(crate) struct SandboxSpec {
    unshare_flags: libc::c_int,
    new_net: bool,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    steps: Vec<Step>,
    root: CString,
    builder: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

fn cstr(p: impl AsRef<[u8]>) -> Result<CString, SandboxError> {
    CString::new(p.as_ref()).map_err(|_| SandboxError {
        context: "a path or argument contains a NUL byte".to_owned(),
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })
}

fn cpath(p: &Path) -> Result<CString, SandboxError> {
    cstr(p.as_os_str().as_bytes())
}

/// Creates the file `dst` in the sandbox and bind-mounts the host file `host` on it (a
/// failed mount is skipped when `optional`).
fn bind_file(host: &Path, dst: &Path, optional: bool) -> Result<[Step; 2], SandboxError> {
    Ok([
        Step::Touch {
            path: cpath(dst)?,
            optional: false,
        },
        Step::Mount {
            src: Some(cpath(host)?),
            dst: cpath(dst)?,
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
            optional,
        },
    ])
}

/// The mount flags a bind mount of `path` must keep when it is remounted read-only inside a
/// user namespace (the kernel refuses to clear them).
fn locked_flags(path: &Path) -> libc::c_ulong {
    use rustix::fs::StatVfsMountFlags as F;
    let Ok(flags) = strata_store::fs::mount_flags(path) else {
        return 0;
    };
    // statvfs's ST_* flags are the mount flags' MS_* bits of the same names.
    (flags & (F::NOSUID | F::NODEV | F::NOEXEC | F::NOATIME | F::NODIRATIME | F::RELATIME)).bits()
        as libc::c_ulong
}

/// The derivation attribute that asks for FHS mode (see the module documentation).
pub const FHS_ATTR: &str = "__strataFhs";

/// The steps that lay the tree `tree` (the value of [`FHS_ATTR`]) out at `/usr` of the
/// sandbox whose root is `root`, with the links into it.
fn fhs_steps(
    store: &LocalStore,
    drv: &Derivation,
    closure: &BTreeSet<StorePath>,
    tree: &str,
    root: &Path,
) -> Result<Vec<Step>, SandboxError> {
    let name = drv.env.get("name").map_or("?", String::as_str);
    let refuse = |problem: String| SandboxError {
        context: format!("{FHS_ATTR} of '{name}'"),
        source: io::Error::new(io::ErrorKind::InvalidInput, problem),
    };
    let path = store
        .store_dir()
        .parse(tree)
        .map_err(|e| refuse(format!("'{tree}' is not a store path ({e})")))?;
    if !closure.contains(&path) {
        return Err(refuse(format!(
            "'{tree}' is not an input of the derivation; make it one (a dependency or an input \
             source) so it is built first and mounted"
        )));
    }
    let usr = store.real_path(&path).join("usr");
    if !fs::symlink_metadata(&usr).is_ok_and(|m| m.is_dir()) {
        return Err(refuse(format!("'{tree}' has no directory usr/")));
    }
    let dst = root.join("usr");
    let mut steps = vec![
        Step::Mkdir(cpath(&dst)?),
        Step::Mount {
            src: Some(cpath(&usr)?),
            dst: cpath(&dst)?,
            fstype: None,
            flags: libc::MS_BIND | libc::MS_REC,
            data: None,
            optional: false,
        },
        Step::Mount {
            src: None,
            dst: cpath(&dst)?,
            fstype: None,
            flags: libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked_flags(&usr),
            data: None,
            optional: false,
        },
    ];
    for dir in ["bin", "sbin", "lib", "lib64"] {
        steps.push(Step::Symlink {
            target: cstr(format!("usr/{dir}"))?,
            link: cpath(&root.join(dir))?,
        });
    }
    if usr.join("lib/strata/ld.so.cache").is_file() {
        steps.push(Step::Symlink {
            target: cstr("/usr/lib/strata/ld.so.cache")?,
            link: cpath(&root.join("etc/ld.so.cache"))?,
        });
    }
    Ok(steps)
}

impl SandboxSpec {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: &LocalStore,
        drv: &Derivation,
        limits: &Limits,
        closure: &BTreeSet<StorePath>,
        build_dir: &Path,
        staging: &Path,
        fixed: bool,
    ) -> Result<SandboxSpec, SandboxError> {
        let root = build_dir.join("root");
        let top = build_dir.join("top");
        let store_dir = store.store_dir().as_str().to_owned();
        let in_root = |logical: &str| root.join(logical.trim_start_matches('/'));
        let mut steps = Vec::new();
        let mount =
            |src: Option<&Path>, dst: &Path, fstype: Option<&str>, flags, data: Option<&str>| {
                Ok::<Step, SandboxError>(Step::Mount {
                    src: src.map(cpath).transpose()?,
                    dst: cpath(dst)?,
                    fstype: fstype.map(cstr).transpose()?,
                    flags,
                    data: data.map(cstr).transpose()?,
                    optional: false,
                })
            };
        // Nothing done here may reach the host's mounts.
        steps.push(mount(
            None,
            Path::new("/"),
            None,
            libc::MS_REC | libc::MS_PRIVATE,
            None,
        )?);
        steps.push(mount(
            Some(Path::new("tmpfs")),
            &root,
            Some("tmpfs"),
            libc::MS_NOSUID,
            Some("mode=0755"),
        )?);
        // Directories of the new root, parents first.
        let store_in_root = in_root(&store_dir);
        let mut dirs: Vec<PathBuf> = Vec::new();
        for logical in [
            store_dir.as_str(),
            "/build",
            "/tmp",
            "/dev/shm",
            "/dev/pts",
            "/proc",
            "/etc",
        ] {
            let mut acc = root.clone();
            for comp in Path::new(logical).components().skip(1) {
                acc.push(comp);
                if !dirs.contains(&acc) {
                    dirs.push(acc.clone());
                }
            }
        }
        for d in &dirs {
            steps.push(Step::Mkdir(cpath(d)?));
        }
        // The store: the staging directory, holding the outputs the builder makes, with the
        // input closure mounted read-only on placeholders created here.
        steps.push(mount(
            Some(staging),
            &store_in_root,
            None,
            libc::MS_BIND,
            None,
        )?);
        for p in closure {
            let real = store.real_path(p);
            let place = staging.join(p.base_name());
            let md = fs::symlink_metadata(&real)
                .map_err(io_ctx(format!("cannot stat '{}'", real.display())))?;
            if md.file_type().is_symlink() {
                let target = fs::read_link(&real)
                    .map_err(io_ctx(format!("cannot read '{}'", real.display())))?;
                std::os::unix::fs::symlink(&target, &place)
                    .map_err(io_ctx(format!("cannot create '{}'", place.display())))?;
                continue;
            }
            if md.is_dir() {
                fs::create_dir(&place)
            } else {
                fs::File::create(&place).map(drop)
            }
            .map_err(io_ctx(format!("cannot create '{}'", place.display())))?;
            let dst = store_in_root.join(p.base_name());
            steps.push(mount(
                Some(&real),
                &dst,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?);
            steps.push(mount(
                None,
                &dst,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked_flags(&real),
                None,
            )?);
        }
        // /build and /tmp.
        steps.push(mount(
            Some(&top),
            &in_root("/build"),
            None,
            libc::MS_BIND,
            None,
        )?);
        steps.push(mount(
            Some(&top),
            &in_root("/tmp"),
            None,
            libc::MS_BIND,
            None,
        )?);
        // /dev.
        for dev in ["null", "zero", "full", "random", "urandom", "tty"] {
            let host = Path::new("/dev").join(dev);
            if fs::symlink_metadata(&host).is_err() {
                continue;
            }
            let dst = in_root(&format!("/dev/{dev}"));
            // /dev/tty is a convenience; the others are required.
            steps.extend(bind_file(&host, &dst, dev == "tty")?);
        }
        steps.push(mount(
            Some(Path::new("tmpfs")),
            &in_root("/dev/shm"),
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some("mode=1777"),
        )?);
        steps.push(Step::Mount {
            src: Some(cstr("devpts")?),
            dst: cpath(&in_root("/dev/pts"))?,
            fstype: Some(cstr("devpts")?),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC,
            data: Some(cstr("newinstance,ptmxmode=0666,mode=0620")?),
            optional: true,
        });
        for (target, link) in [
            ("pts/ptmx", "/dev/ptmx"),
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
        ] {
            steps.push(Step::Symlink {
                target: cstr(target)?,
                link: cpath(&in_root(link))?,
            });
        }
        // /proc of the new PID namespace.
        steps.push(mount(
            Some(Path::new("proc")),
            &in_root("/proc"),
            Some("proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        )?);
        // /etc.
        let passwd = format!(
            "root:x:0:0:Nix build user:/build:/noshell\n\
             nixbld:x:{BUILD_UID}:{BUILD_GID}:Nix build user:/build:/noshell\n\
             nobody:x:65534:65534:Nobody:/:/noshell\n"
        );
        let group = format!("root:x:0:\nnixbld:!:{BUILD_GID}:\nnogroup:x:65534:\n");
        let hosts = "127.0.0.1 localhost\n::1 localhost\n";
        for (name, data) in [
            ("passwd", passwd.as_str()),
            ("group", &group),
            ("hosts", hosts),
        ] {
            steps.push(Step::Write {
                path: cpath(&in_root(&format!("/etc/{name}")))?,
                data: data.as_bytes().to_vec(),
            });
        }
        if fixed {
            // Fixed-output builds may use the network, so they get name resolution.
            for f in ["resolv.conf", "services"] {
                let host = Path::new("/etc").join(f);
                if fs::metadata(&host).is_ok() {
                    steps.extend(bind_file(&host, &in_root(&format!("/etc/{f}")), true)?);
                }
            }
        }

        if let Some(tree) = drv.env.get(FHS_ATTR) {
            steps.extend(fhs_steps(store, drv, closure, tree, &root)?);
        }

        // The environment.
        let cores = if limits.cores == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
        } else {
            limits.cores
        };
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            ("PATH", "/path-not-set"),
            ("HOME", "/homeless-shelter"),
            ("NIX_BUILD_TOP", "/build"),
            ("TMPDIR", "/build"),
            ("TEMPDIR", "/build"),
            ("TMP", "/build"),
            ("TEMP", "/build"),
            ("PWD", "/build"),
            ("TERM", "xterm-256color"),
            ("TZ", "UTC"),
            ("SOURCE_DATE_EPOCH", "1"),
            ("NIX_LOG_FD", "2"),
        ] {
            env.insert(k.to_owned(), v.to_owned());
        }
        env.insert("NIX_STORE".to_owned(), store_dir.clone());
        env.insert("NIX_BUILD_CORES".to_owned(), cores.to_string());
        // As Nix does: an attribute named in `passAsFile` is not in the environment; its
        // value is in the file `/build/.attr-<nix32 of sha256 of its name>`, named by
        // `<name>Path`.
        let pass_as_file: BTreeSet<&str> = drv
            .env
            .get("passAsFile")
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default();
        for (k, v) in &drv.env {
            if pass_as_file.contains(k.as_str()) {
                let file = format!(
                    ".attr-{}",
                    Hash::of(HashAlgo::Sha256, k.as_bytes()).to_nix32()
                );
                let host = top.join(&file);
                fs::write(&host, v.as_bytes())
                    .map_err(io_ctx(format!("cannot write '{}'", host.display())))?;
                env.insert(format!("{k}Path"), format!("/build/{file}"));
            } else {
                env.insert(k.clone(), v.clone());
            }
        }
        let envp = env
            .iter()
            .map(|(k, v)| cstr(format!("{k}={v}")))
            .collect::<Result<Vec<_>, _>>()?;
        let builder = cstr(&drv.builder)?;
        let mut argv = vec![builder.clone()];
        for a in &drv.args {
            argv.push(cstr(a)?);
        }

        // SAFETY: getuid and getgid cannot fail and have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let mut unshare_flags = libc::CLONE_NEWUSER
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC;
        if !fixed {
            unshare_flags |= libc::CLONE_NEWNET;
        }
        Ok(SandboxSpec {
            unshare_flags,
            new_net: !fixed,
            uid_map: format!("{BUILD_UID} {uid} 1\n").into_bytes(),
            gid_map: format!("{BUILD_GID} {gid} 1\n").into_bytes(),
            steps,
            root: cpath(&root)?,
            builder,
            argv,
            envp,
        })
    }

    /// Runs the builder and waits for it, killing it on timeout or cancellation.
    pub(crate) fn run(&self, log: &fs::File, limits: &Limits) -> Result<Outcome, SandboxError> {
        let devnull = fs::File::open("/dev/null").map_err(io_ctx("cannot open /dev/null"))?;
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io_ctx("cannot create a pipe")(io::Error::last_os_error()));
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
        let (err_r, err_w) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.envp.iter().map(|a| a.as_ptr()).collect();
        envp.push(std::ptr::null());
        let ctx = ChildCtx {
            spec: self,
            argv: &argv,
            envp: &envp,
            log: log.as_raw_fd(),
            stdin: devnull.as_raw_fd(),
            err: err_w.as_raw_fd(),
        };
        // SAFETY: fork has no preconditions. In the child only `helper_main` runs, which
        // makes async-signal-safe system calls on memory prepared before the fork (no
        // allocation, no locks) and never returns.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io_ctx("cannot fork")(io::Error::last_os_error()));
        }
        if pid == 0 {
            ctx.helper_main();
        }
        drop(err_w);
        let start = Instant::now();
        let mut killed: Option<Outcome> = None;
        let mut nap = Duration::from_millis(1);
        let status = loop {
            let mut status: libc::c_int = 0;
            // SAFETY: `status` is a valid out-pointer; `pid` is our child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break status;
            }
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(io_ctx("cannot wait for the builder")(e));
            }
            if killed.is_none() {
                if let Some(t) = limits.timeout {
                    if start.elapsed() >= t {
                        killed = Some(Outcome::TimedOut(t));
                    }
                }
                if limits
                    .cancel
                    .as_ref()
                    .is_some_and(|c| c.load(Ordering::Relaxed))
                {
                    killed = Some(Outcome::Cancelled);
                }
                if killed.is_some() {
                    // SAFETY: `pid` is our un-reaped child, so the id cannot have been reused.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(50));
        };
        let mut msg = Vec::new();
        let _ = fs::File::from(err_r).read_to_end(&mut msg);
        if let Some(k) = killed {
            return Ok(k);
        }
        if !msg.is_empty() {
            return Ok(Outcome::SetupFailed(
                String::from_utf8_lossy(&msg).into_owned(),
            ));
        }
        if libc::WIFEXITED(status) {
            Ok(Outcome::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Ok(Outcome::Signalled(libc::WTERMSIG(status)))
        } else {
            Ok(Outcome::Exited(-1))
        }
    }
}

/// Everything the forked processes use, borrowed from memory prepared before the fork.
struct ChildCtx<'a> {
    spec: &'a SandboxSpec,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    log: libc::c_int,
    stdin: libc::c_int,
    err: libc::c_int,
}

/// The error pipe's descriptor in the forked processes.
const ERR_FD: libc::c_int = 3;

/// Writes `what: errno N` to the error pipe and exits. Async-signal-safe.
fn die(err: libc::c_int, what: &[u8]) -> ! {
    // SAFETY: reading errno is thread-local and async-signal-safe.
    let errno = unsafe { *libc::__errno_location() };
    let mut buf = [0u8; 24];
    let mut n = errno.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    for part in [what, b": errno ", &buf[i..]] {
        // SAFETY: `part` is valid for reads of its length; write is async-signal-safe.
        unsafe { libc::write(err, part.as_ptr().cast(), part.len()) };
    }
    // SAFETY: _exit is async-signal-safe and ends the process without running any Rust code.
    unsafe { libc::_exit(127) }
}

impl ChildCtx<'_> {
    /// The helper: unshares the namespaces, maps the ids, forks the builder (PID 1 of the new
    /// PID namespace) and exits with its status.
    fn helper_main(&self) -> ! {
        // SAFETY: every call below is a plain system call wrapper (async-signal-safe) on
        // pointers to NUL-terminated strings and buffers that live across the fork.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            // Keep only the standard streams and the error pipe (as fd 3): this process never
            // executes anything, so it would otherwise hold every descriptor of the caller
            // open (other threads' files, making their executables "text file busy").
            if libc::dup2(self.stdin, 0) < 0
                || libc::dup2(self.log, 1) < 0
                || libc::dup2(self.log, 2) < 0
            {
                die(self.err, b"cannot redirect the builder's standard streams");
            }
            if self.err != ERR_FD && libc::dup3(self.err, ERR_FD, libc::O_CLOEXEC) < 0 {
                die(self.err, b"cannot move the error pipe");
            }
            if libc::syscall(libc::SYS_close_range, ERR_FD + 1, libc::c_uint::MAX, 0) != 0 {
                for fd in ERR_FD + 1..4096 {
                    libc::close(fd);
                }
            }
            let err = ERR_FD;
            if libc::unshare(self.spec.unshare_flags) != 0 {
                die(
                    err,
                    b"unshare of the user, mount, PID, UTS, IPC and network namespaces failed",
                );
            }
            write_file(
                err,
                c"/proc/self/setgroups",
                b"deny",
                b"cannot write /proc/self/setgroups",
            );
            write_file(
                err,
                c"/proc/self/uid_map",
                &self.spec.uid_map,
                b"cannot write /proc/self/uid_map",
            );
            write_file(
                err,
                c"/proc/self/gid_map",
                &self.spec.gid_map,
                b"cannot write /proc/self/gid_map",
            );
            let pid = libc::fork();
            if pid < 0 {
                die(err, b"cannot fork the builder");
            }
            if pid == 0 {
                self.builder_main();
            }
            loop {
                let mut status: libc::c_int = 0;
                let r = libc::waitpid(pid, &mut status, 0);
                if r == pid {
                    if libc::WIFEXITED(status) {
                        libc::_exit(libc::WEXITSTATUS(status));
                    }
                    if libc::WIFSIGNALED(status) {
                        // Die the same way, so the parent sees the signal.
                        let sig = libc::WTERMSIG(status);
                        libc::signal(sig, libc::SIG_DFL);
                        libc::kill(libc::getpid(), sig);
                        libc::_exit(128 + sig);
                    }
                }
                if r < 0 && *libc::__errno_location() != libc::EINTR {
                    libc::_exit(127);
                }
            }
        }
    }

    /// PID 1 of the sandbox: builds the root, enters it and executes the builder.
    fn builder_main(&self) -> ! {
        // SAFETY: as in `helper_main`: only system call wrappers, on memory prepared before
        // the fork; nothing allocates.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            for step in &self.spec.steps {
                run_step(ERR_FD, step);
            }
            let host = b"localhost";
            if libc::sethostname(host.as_ptr().cast(), host.len()) != 0 {
                die(ERR_FD, b"cannot set the host name");
            }
            if self.spec.new_net {
                loopback_up();
            }
            if libc::chdir(self.spec.root.as_ptr()) != 0 {
                die(ERR_FD, b"cannot enter the sandbox root");
            }
            let dot = c".";
            if libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) != 0 {
                die(ERR_FD, b"pivot_root failed");
            }
            if libc::umount2(dot.as_ptr(), libc::MNT_DETACH) != 0 {
                die(ERR_FD, b"cannot detach the old root");
            }
            if libc::chdir(c"/build".as_ptr()) != 0 {
                die(ERR_FD, b"cannot enter /build");
            }
            libc::execve(
                self.spec.builder.as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            );
            die(ERR_FD, b"cannot execute the builder");
        }
    }
}

/// Writes `data` to `path` (which must exist); dies on failure. Async-signal-safe.
fn write_file(err: libc::c_int, path: &std::ffi::CStr, data: &[u8], what: &[u8]) {
    // SAFETY: `path` is NUL-terminated and `data` valid for reads; plain system calls.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 || libc::write(fd, data.as_ptr().cast(), data.len()) != data.len() as isize {
            die(err, what);
        }
        libc::close(fd);
    }
}

/// Performs one prepared step; dies on failure of a required one. Async-signal-safe.
fn run_step(err: libc::c_int, step: &Step) {
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: all pointers are to NUL-terminated strings or buffers owned by `step`, which
    // outlives the calls; the calls are plain system call wrappers.
    unsafe {
        match step {
            Step::Mount {
                src,
                dst,
                fstype,
                flags,
                data,
                optional,
            } => {
                let r = libc::mount(
                    ptr(src),
                    dst.as_ptr(),
                    ptr(fstype),
                    *flags,
                    ptr(data).cast(),
                );
                if r != 0 && !optional {
                    die2(err, b"mount failed on ", dst.as_bytes());
                }
            }
            Step::Mkdir(path) => {
                if libc::mkdir(path.as_ptr(), 0o755) != 0
                    && *libc::__errno_location() != libc::EEXIST
                {
                    die2(err, b"cannot create directory ", path.as_bytes());
                }
            }
            Step::Touch { path, optional } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
                    0o644,
                );
                if fd < 0 {
                    if !optional {
                        die2(err, b"cannot create ", path.as_bytes());
                    }
                } else {
                    libc::close(fd);
                }
            }
            Step::Write { path, data } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                    0o644,
                );
                if fd < 0
                    || libc::write(fd, data.as_ptr().cast(), data.len()) != data.len() as isize
                {
                    die2(err, b"cannot write ", path.as_bytes());
                }
                libc::close(fd);
            }
            Step::Symlink { target, link } => {
                if libc::symlink(target.as_ptr(), link.as_ptr()) != 0 {
                    die2(err, b"cannot create symlink ", link.as_bytes());
                }
            }
        }
    }
}

/// Like [`die`] with a two-part message. Async-signal-safe.
fn die2(err: libc::c_int, a: &[u8], b: &[u8]) -> ! {
    // SAFETY: reading errno first, so the write below cannot clobber it.
    let saved = unsafe { *libc::__errno_location() };
    // SAFETY: `a` is valid for reads of its length.
    unsafe { libc::write(err, a.as_ptr().cast(), a.len()) };
    // SAFETY: errno is thread-local; restoring it for `die`.
    unsafe { *libc::__errno_location() = saved };
    die(err, b)
}

/// Brings up `lo` in the new network namespace (best effort). Async-signal-safe.
fn loopback_up() {
    // SAFETY: socket, ioctl and close are system calls; `req` is a zeroed ifreq on the stack
    // that outlives the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS, &mut req);
        }
        libc::close(fd);
    }
}
