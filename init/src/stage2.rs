//! Stage 2: PID 1 on the real root. Mounts what the system needs, marks the generation as
//! booted, activates it (crate `activate`: users, `/etc`, host name), then runs the
//! [`Supervisor`] on [`RealSupervise`]: the kernel behind the [`Supervise`] trait. When the
//! supervisor returns, the file systems are synced, the root is remounted read-only and
//! `reboot(2)` powers off or reboots.
//!
//! One thread; signals arrive through a `signalfd`, and the only wait is one `poll` on it, the
//! control socket (`/run/strata/init.sock`), the services' output pipes and notify sockets,
//! with the supervisor's nearest deadline as its timeout. SIGTERM, SIGPWR and SIGUSR2 ask for
//! a power-off, SIGINT (what ctrl-alt-del sends once it is handed to PID 1) and SIGUSR1 for a
//! reboot.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::services::{ActivationManifest, Exit};
use crate::stage1::mount_essentials;
use crate::supervisor::{Event, Shutdown, Spawn, Supervise, Supervisor};
use crate::sys::{ms, RealSys, Sys};

pub use strata_activate::control::CONTROL_SOCKET;
/// Where services' output is kept.
pub const LOG_DIR: &str = "/var/log/strata";

/// The toplevel a stage 2 started as `<toplevel>/init` belongs to.
pub fn toplevel_of(argv0: &str) -> Option<&str> {
    argv0.strip_suffix("/init").filter(|t| !t.is_empty())
}

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// Blocks the signals PID 1 handles and returns a signalfd for them.
fn signal_fd() -> io::Result<OwnedFd> {
    // SAFETY: sigset manipulation on a local set, then installing it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [
            libc::SIGCHLD,
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGPWR,
        ] {
            libc::sigaddset(&mut set, s);
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) < 0 {
            return Err(last_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return Err(last_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// A non-blocking, close-on-exec Unix socket of `kind` bound at `path` (a stale socket
/// file there is replaced), with the file's mode set to `mode`.
fn bound_socket(kind: libc::c_int, path: &str, mode: u32) -> io::Result<OwnedFd> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        let _ = fs::create_dir_all(dir);
    }
    let _ = fs::remove_file(path);
    // SAFETY: socket creation; the fd is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(last_error());
    }
    // SAFETY: a fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    bind_unix(&fd, path)?;
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    Ok(fd)
}

fn control_socket() -> io::Result<OwnedFd> {
    // Only root may talk to init.
    let fd = bound_socket(libc::SOCK_STREAM, CONTROL_SOCKET, 0o600)?;
    // SAFETY: listening on a bound socket.
    if unsafe { libc::listen(fd.as_raw_fd(), 8) } < 0 {
        return Err(last_error());
    }
    Ok(fd)
}

/// `uid`, `gid` and home of `user` from `/etc/passwd` (no NSS).
fn lookup_user(user: &str) -> Option<(u32, u32, String)> {
    if user == "root" {
        return Some((0, 0, "/root".into()));
    }
    let text = fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[0] == user).then(|| {
            (
                f[2].parse().unwrap_or(u32::MAX),
                f[3].parse().unwrap_or(u32::MAX),
                f[5].to_owned(),
            )
        })
    })
}

fn lookup_group(group: &str) -> Option<u32> {
    let text = fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == group).then(|| f[2].parse().unwrap_or(u32::MAX))
    })
}

/// What a child does between `fork` and `exec`, prepared before the fork.
struct ChildPlan {
    program: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
    dir: Option<CString>,
    ids: Option<(u32, u32)>,
    /// The descriptor for the child's stdout and stderr (none: the console).
    output: Option<RawFd>,
    /// A terminal to make the child's controlling terminal and its stdin/stdout/stderr.
    tty: Option<CString>,
}

/// Forks and executes `plan`; the child never returns.
fn spawn(plan: &ChildPlan) -> io::Result<i32> {
    let mut argv: Vec<*const libc::c_char> = plan.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut env: Vec<*const libc::c_char> = plan.env.iter().map(|a| a.as_ptr()).collect();
    env.push(std::ptr::null());
    // SAFETY: one thread; the child only makes system calls on prepared data before exec.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(last_error());
    }
    if pid > 0 {
        return Ok(pid);
    }
    // SAFETY: the child: system calls on prepared, NUL-terminated data, then exec or _exit.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::setsid();
        if let Some(tty) = &plan.tty {
            let fd = libc::open(tty.as_ptr(), libc::O_RDWR);
            if fd < 0 {
                libc::_exit(126);
            }
            libc::ioctl(fd, libc::TIOCSCTTY, 1);
            for t in 0..3 {
                libc::dup2(fd, t);
            }
        } else {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null >= 0 {
                libc::dup2(null, 0);
            }
            let out = match plan.output {
                Some(fd) => fd,
                None => libc::open(c"/dev/console".as_ptr(), libc::O_WRONLY),
            };
            if out >= 0 {
                libc::dup2(out, 1);
                libc::dup2(out, 2);
            }
        }
        if let Some(dir) = &plan.dir {
            if libc::chdir(dir.as_ptr()) < 0 {
                libc::_exit(126);
            }
        }
        if let Some((uid, gid)) = plan.ids {
            if libc::setgroups(0, std::ptr::null()) < 0
                || libc::setgid(gid) < 0
                || libc::setuid(uid) < 0
            {
                libc::_exit(126);
            }
        }
        libc::execve(plan.program.as_ptr(), argv.as_ptr(), env.as_ptr());
        libc::_exit(127);
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: a two-element array for pipe2.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(last_error());
    }
    // SAFETY: two fresh descriptors.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: setting O_NONBLOCK on our read end.
    unsafe {
        let fl = libc::fcntl(r.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(r.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    Ok((r, w))
}

fn exit_of(status: i32) -> Exit {
    if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }
}

/// A datagram socket a `Type=notify` service reports to (`NOTIFY_SOCKET`).
fn notify_socket(path: &str) -> io::Result<OwnedFd> {
    // Services running as other users report too.
    bound_socket(libc::SOCK_DGRAM, path, 0o666)
}

fn bind_unix(fd: &OwnedFd, path: &str) -> io::Result<()> {
    // SAFETY: a zeroed sockaddr_un is valid; the path is copied in bounds below.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.len() >= addr.sun_path.len() {
        return Err(io::Error::other(format!("socket path {path} is too long")));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(path.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: `addr` is a sockaddr_un of the given size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(last_error());
    }
    Ok(())
}

/// A running child's descriptors.
#[derive(Debug, Default)]
struct Child {
    output: Option<OwnedFd>,
    notify: Option<OwnedFd>,
}

/// The kernel, for the [`Supervisor`].
#[derive(Debug)]
pub struct RealSupervise {
    sys: RealSys,
    signals: OwnedFd,
    control: Option<OwnedFd>,
    children: BTreeMap<i32, Child>,
    /// Control connections waiting for their answer.
    conns: BTreeMap<u64, OwnedFd>,
    next_id: u64,
    logs: BTreeMap<String, fs::File>,
}

/// Reads what is available on a non-blocking descriptor; true at end of file.
fn read_available(fd: RawFd, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reading into a local buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            into.extend_from_slice(&buf[..n as usize]);
            continue;
        }
        return n == 0;
    }
}

impl RealSupervise {
    fn reap(&mut self, events: &mut Vec<Event>) {
        loop {
            let mut status = 0;
            // SAFETY: non-blocking wait for any child.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            // What the child wrote before it ended comes first.
            if let Some(c) = self.children.remove(&pid) {
                if let Some(fd) = &c.output {
                    let mut data = Vec::new();
                    let eof = read_available(fd.as_raw_fd(), &mut data);
                    if !data.is_empty() || eof {
                        events.push(Event::Output { pid, data, eof });
                    }
                }
            }
            events.push(Event::Exited {
                pid,
                exit: exit_of(status),
            });
        }
    }

    fn accept(&mut self, events: &mut Vec<Event>) {
        let Some(c) = &self.control else {
            return;
        };
        // SAFETY: accepting on our listening socket.
        let conn = unsafe {
            libc::accept4(
                c.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if conn < 0 {
            return;
        }
        // SAFETY: a fresh descriptor.
        let conn = unsafe { OwnedFd::from_raw_fd(conn) };
        // The client writes its request at once; wait for it a bounded time.
        let mut pfd = libc::pollfd {
            fd: conn.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 2000) };
        let mut buf = [0u8; 1024];
        // SAFETY: reading into a local buffer.
        let n = unsafe { libc::read(conn.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let line = if n > 0 {
            String::from_utf8_lossy(&buf[..n as usize])
                .trim()
                .to_owned()
        } else {
            String::new()
        };
        let id = self.next_id;
        self.next_id += 1;
        self.conns.insert(id, conn);
        events.push(Event::Request { id, line });
    }
}

impl Supervise for RealSupervise {
    fn spawn(&mut self, s: &Spawn) -> io::Result<i32> {
        let (output, write) = if s.capture {
            let (r, w) = pipe()?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        let notify = match &s.notify {
            Some(path) => Some(notify_socket(path)?),
            None => None,
        };
        let plan = ChildPlan {
            program: cstring(&s.program),
            argv: s.argv.iter().map(|a| cstring(a)).collect(),
            env: s.env.iter().map(|e| cstring(e)).collect(),
            dir: s.dir.as_deref().map(cstring),
            ids: s.ids,
            output: write.as_ref().map(|w| w.as_raw_fd()),
            tty: s.tty.as_deref().map(cstring),
        };
        let pid = spawn(&plan)?;
        drop(write);
        self.children.insert(pid, Child { output, notify });
        Ok(pid)
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Vec<Event> {
        let mut fds = vec![libc::pollfd {
            fd: self.signals.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(c) = &self.control {
            fds.push(libc::pollfd {
                fd: c.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let base = fds.len();
        // (pid, is notify, fd)
        let mut watched: Vec<(i32, bool, RawFd)> = Vec::new();
        for (pid, c) in &self.children {
            if let Some(f) = &c.output {
                watched.push((*pid, false, f.as_raw_fd()));
            }
            if let Some(f) = &c.notify {
                watched.push((*pid, true, f.as_raw_fd()));
            }
        }
        for (_, _, fd) in &watched {
            fds.push(libc::pollfd {
                fd: *fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        // SAFETY: a valid array of pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        let mut events = Vec::new();
        if n <= 0 {
            return events;
        }
        for (i, (pid, is_notify, fd)) in watched.iter().enumerate() {
            if fds[base + i].revents == 0 {
                continue;
            }
            if *is_notify {
                let mut buf = [0u8; 4096];
                loop {
                    // SAFETY: receiving into a local buffer from a non-blocking socket.
                    let n = unsafe { libc::recv(*fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
                    if n <= 0 {
                        break;
                    }
                    events.push(Event::Notify {
                        pid: *pid,
                        message: String::from_utf8_lossy(&buf[..n as usize]).into_owned(),
                    });
                }
            } else {
                let mut data = Vec::new();
                let eof = read_available(*fd, &mut data);
                if eof {
                    if let Some(c) = self.children.get_mut(pid) {
                        c.output = None;
                    }
                }
                events.push(Event::Output {
                    pid: *pid,
                    data,
                    eof,
                });
            }
        }
        if self.control.is_some() && fds[1].revents != 0 {
            self.accept(&mut events);
        }
        if fds[0].revents != 0 {
            loop {
                // SAFETY: reading one signalfd_siginfo into a correctly sized local.
                let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
                let n = unsafe {
                    libc::read(
                        self.signals.as_raw_fd(),
                        (&raw mut info).cast(),
                        std::mem::size_of::<libc::signalfd_siginfo>(),
                    )
                };
                if n <= 0 {
                    break;
                }
                match info.ssi_signo as i32 {
                    libc::SIGTERM | libc::SIGUSR2 | libc::SIGPWR => {
                        events.push(Event::Signal(Shutdown::PowerOff))
                    }
                    libc::SIGINT | libc::SIGUSR1 => events.push(Event::Signal(Shutdown::Reboot)),
                    _ => {}
                }
            }
            self.reap(&mut events);
        }
        events
    }

    fn reply(&mut self, id: u64, text: &str) {
        if let Some(conn) = self.conns.remove(&id) {
            // SAFETY: writing our reply from a local buffer.
            unsafe { libc::write(conn.as_raw_fd(), text.as_ptr().cast(), text.len()) };
        }
    }

    fn signal_group(&mut self, pid: i32, sig: i32) {
        // SAFETY: signalling a process group we started.
        unsafe { libc::kill(-pid, sig) };
    }

    fn signal_all(&mut self, sig: i32) {
        // SAFETY: signalling every process but ourselves.
        unsafe { libc::kill(-1, sig) };
    }

    fn now(&mut self) -> Duration {
        self.sys.now()
    }

    fn console(&mut self, line: &str) {
        self.sys.console(line);
    }

    fn log(&mut self, service: &str, line: &str) {
        if !self.logs.contains_key(service) {
            let f = fs::create_dir_all(LOG_DIR).ok().and_then(|()| {
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(format!("{LOG_DIR}/{service}.log"))
                    .ok()
            });
            match f {
                Some(f) => {
                    self.logs.insert(service.to_owned(), f);
                }
                None => return,
            }
        }
        if let Some(f) = self.logs.get_mut(service) {
            let _ = writeln!(f, "{line}");
        }
    }

    fn user(&mut self, name: &str) -> Option<(u32, u32, String)> {
        lookup_user(name)
    }

    fn group(&mut self, name: &str) -> Option<u32> {
        lookup_group(name)
    }

    fn exists(&mut self, path: &str) -> bool {
        self.sys.exists(path)
    }

    fn read_services(
        &mut self,
        toplevel: &str,
    ) -> Result<
        (String, BTreeMap<String, crate::services::Service>),
        crate::supervisor::ReadServicesError,
    > {
        let path = format!("{toplevel}/activation.json");
        let json = fs::read_to_string(&path)
            .map_err(|source| crate::supervisor::ReadServicesError::Read { path, source })?;
        let m = ActivationManifest::from_json(&json)?;
        Ok((m.host_name, m.services))
    }
}

/// Mounts, links and supervises; never returns.
pub fn run(argv0: &str) -> ! {
    let mut sys = RealSys::new();
    sys.console(&format!(
        "strata: stage 2 (strata-init {})",
        env!("CARGO_PKG_VERSION")
    ));
    if let Err(e) = mount_essentials(&mut sys) {
        sys.console(&format!("strata: {e}"));
    }
    for (src, target, fstype, flags, data) in [
        (
            "devpts",
            "/dev/pts",
            "devpts",
            ms::NOSUID | ms::NOEXEC,
            "gid=5,mode=620,ptmxmode=666",
        ),
        (
            "tmpfs",
            "/dev/shm",
            "tmpfs",
            ms::NOSUID | ms::NODEV,
            "mode=1777",
        ),
        // The setuid wrappers' own tmpfs (not nosuid), which activation fills.
        ("tmpfs", "/run/wrappers", "tmpfs", ms::NODEV, "mode=755"),
    ] {
        let _ = sys.mkdir_p(target);
        if let Err(e) = sys.mount(src, target, fstype, flags, data) {
            if e.raw_os_error() != Some(libc::EBUSY) {
                sys.console(&format!("strata: cannot mount {target}: {e}"));
            }
        }
    }
    let toplevel = match toplevel_of(argv0) {
        Some(t) => t.to_owned(),
        None => crate::emergency_forever(
            &mut sys,
            &format!("started as {argv0}, not as a generation's init (<toplevel>/init)"),
        ),
    };
    // The store is read-only from here on (a bind mount of itself).
    if sys
        .mount("/nix/store", "/nix/store", "", ms::BIND, "")
        .is_ok()
    {
        if let Err(e) = sys.mount(
            "",
            "/nix/store",
            "",
            ms::BIND | ms::REMOUNT | ms::RDONLY,
            "",
        ) {
            sys.console(&format!("strata: cannot make the store read-only: {e}"));
        }
    }
    for link in ["/run/booted-system", "/run/current-system"] {
        let _ = fs::remove_file(link);
        if let Err(e) = std::os::unix::fs::symlink(&toplevel, link) {
            sys.console(&format!("strata: cannot link {link}: {e}"));
        }
    }
    // The booted generation stays alive through a garbage collection even once its profile
    // link is deleted.
    let gcroots = "/nix/var/nix/gcroots";
    if fs::create_dir_all(gcroots).is_ok() {
        let link = format!("{gcroots}/booted-system");
        let _ = fs::remove_file(&link);
        let _ = std::os::unix::fs::symlink(&toplevel, &link);
    }
    // A switch that waited for confirmation when the machine went down is over: the boot
    // default never moved to it.
    let _ = fs::remove_file(format!("/{}", strata_activate::switch::PENDING));
    let manifest = fs::read_to_string(format!("{toplevel}/activation.json"))
        .map_err(|e| format!("cannot read {toplevel}/activation.json: {e}"))
        .and_then(|j| ActivationManifest::from_json(&j).map_err(|e| e.to_string()));
    let (host_name, service_specs, mounts, key_map) = match manifest {
        Ok(m) => (m.host_name, m.services, m.file_systems, m.console_key_map),
        Err(e) => {
            sys.console(&format!("strata: {e}; no services start"));
            (String::new(), BTreeMap::new(), Vec::new(), None)
        }
    };
    let mounted = mount_file_systems(&mut sys, &mounts);
    // console.keyMap: the kernel's own layout (us) unless the generation names another.
    if let Some(map) = &key_map {
        crate::console::load(&mut sys, map);
    }
    // The same activation `strata switch` runs: users, /etc, the host name, swap and
    // boot.kernelModules.
    match strata_activate::activate(
        std::path::Path::new("/"),
        &toplevel,
        &strata_activate::Options {
            set_hostname: true,
            // Swap and boot.kernelModules, now that the file systems are mounted.
            kernel: Some(crate::modload::kernel_calls()),
            ..Default::default()
        },
    ) {
        Ok(r) => {
            for c in &r.changes {
                sys.console(&format!("strata: activation: {c}"));
            }
        }
        Err(e) => sys.console(&format!("strata: activation failed: {e}")),
    }
    // ctrl-alt-del sends SIGINT to PID 1 instead of rebooting at once.
    // SAFETY: a plain reboot(2) command.
    unsafe { libc::reboot(libc::RB_DISABLE_CAD) };
    let cmdline = sys.read_file("/proc/cmdline").unwrap_or_default();
    let params = crate::cmdline::BootParams::read(None, &String::from_utf8_lossy(&cmdline));
    let mut consoles = params.console_devices();
    if consoles.is_empty() {
        consoles.push("tty1".into());
    }
    let signals = match signal_fd() {
        Ok(s) => s,
        Err(e) => crate::emergency_forever(&mut sys, &format!("cannot receive signals: {e}")),
    };
    let control = match control_socket() {
        Ok(c) => Some(c),
        Err(e) => {
            sys.console(&format!(
                "strata: no control socket at {CONTROL_SOCKET}: {e}"
            ));
            None
        }
    };
    let real = RealSupervise {
        sys,
        signals,
        control,
        children: BTreeMap::new(),
        conns: BTreeMap::new(),
        next_id: 0,
        logs: BTreeMap::new(),
    };
    let mut sup = Supervisor::new(real, &toplevel, &host_name, service_specs, consoles);
    let how = sup.run();
    sup.shut_down(how);
    let mut sys = sup.sys.sys;
    // SAFETY: flushing file systems.
    unsafe { libc::sync() };
    for m in mounted.iter().rev() {
        if let Ok(c) = std::ffi::CString::new(m.as_str()) {
            // SAFETY: a NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let _ = sys.mount("", "/", "", ms::REMOUNT | ms::RDONLY, "");
    // SAFETY: as above.
    unsafe { libc::sync() };
    let cmd = match how {
        Shutdown::PowerOff => libc::RB_POWER_OFF,
        Shutdown::Reboot => libc::RB_AUTOBOOT,
    };
    // SAFETY: the final reboot(2).
    unsafe { libc::reboot(cmd) };
    sys.console(&format!("strata: reboot(2) failed: {}", last_error()));
    crate::wait_forever()
}

/// How long stage 2 waits for a declared file system's device.
const MOUNT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Mounts the file systems declared besides `/`, parents first; returns the mount points
/// mounted. A file system that cannot be mounted is reported and skipped: the machine still
/// comes up, so it can be repaired.
pub fn mount_file_systems(
    sys: &mut dyn Sys,
    file_systems: &[strata_activate::manifest::ManifestFileSystem],
) -> Vec<String> {
    let mut mounted = Vec::new();
    for f in file_systems.iter().filter(|f| f.mount_point != "/") {
        let Some(spec) = crate::cmdline::RootSpec::parse(&f.device) else {
            sys.console(&format!(
                "strata: {}: cannot read the device {:?}",
                f.mount_point, f.device
            ));
            continue;
        };
        let found = match crate::stage1::wait_for_root(sys, &spec, MOUNT_TIMEOUT) {
            Ok(found) => found,
            Err(e) => {
                sys.console(&format!("strata: not mounting {}: {e}", f.mount_point));
                continue;
            }
        };
        let fstype = match (f.fs_type.as_str(), found.fstype) {
            ("auto", Some(t)) => t.to_owned(),
            (t, _) => t.to_owned(),
        };
        let (flags, data) = crate::stage1::mount_options(&f.options, None);
        let res = sys
            .mkdir_p(&f.mount_point)
            .and_then(|()| sys.mount(&found.device, &f.mount_point, &fstype, flags, &data));
        match res {
            Ok(()) => mounted.push(f.mount_point.clone()),
            Err(e) => sys.console(&format!(
                "strata: cannot mount {} on {}: {e}",
                found.device, f.mount_point
            )),
        }
    }
    mounted
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_generation_comes_from_the_path_init_was_started_as() {
        assert_eq!(
            toplevel_of("/nix/store/abc-strata-system-saguaro/init"),
            Some("/nix/store/abc-strata-system-saguaro")
        );
        assert_eq!(toplevel_of("/init"), None);
        assert_eq!(toplevel_of("/sbin/strata-init"), None);
    }
}
