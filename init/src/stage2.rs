//! Stage 2: PID 1 on the real root. Mounts what the system needs, marks the generation as
//! booted, activates it (crate `activate`: users, `/etc`, host name), then supervises: the services of the manifest in boot order
//! ([`services::boot_order`]), restarted by their `Restart=` policy with a growing delay, their
//! output copied to the console and to `/var/log/strata/<name>.log`; a login prompt on each
//! console; orphans reaped; and a control socket (`/run/strata/init.sock`) through which
//! `strata` starts, stops, restarts and queries services and powers off or reboots.
//! SIGTERM, SIGINT (also what ctrl-alt-del sends) and `strata poweroff|reboot` shut down in
//! order: services stopped newest first with a bounded wait, every process killed, file
//! systems synced and remounted read-only, then `reboot(2)`.
//!
//! One thread; signals arrive through a `signalfd`, and the only wait is one `poll` on it, the
//! control socket and the services' output pipes, with the nearest restart as its deadline.
//!
//! The control protocol: one request line, answered with lines and the connection closed.
//! Requests: `status`, `start NAME`, `stop NAME`, `restart NAME`, `reload NAME`, `poweroff`,
//! `reboot`. The answer starts with `ok` or `error: <what>`.
//!
//! `Type=` as far as it applies without systemd: `simple` and `exec` count as started once
//! running, `oneshot` once finished, `notify` once it sent `READY=1` to `NOTIFY_SOCKET`,
//! `forking` once its start process ended (the daemon it leaves is not tracked).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::services::{self, ActivationManifest, Exit};
use crate::stage1::mount_essentials;
use crate::sys::{ms, RealSys, Sys};

/// The control socket.
pub const CONTROL_SOCKET: &str = "/run/strata/init.sock";
/// Where services' output is kept.
pub const LOG_DIR: &str = "/var/log/strata";
/// How long services get to stop at shutdown before everything is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The toplevel a stage 2 started as `<toplevel>/init` belongs to.
pub fn toplevel_of(argv0: &str) -> Option<&str> {
    argv0.strip_suffix("/init").filter(|t| !t.is_empty())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Stopped,
    Running {
        pid: i32,
        since: Duration,
    },
    /// A oneshot that finished, or a service that ended and is not restarted.
    Exited(Exit),
    WaitingRestart {
        at: Duration,
    },
    /// Could not be started; why.
    Failed(String),
}

#[derive(Debug)]
struct Unit {
    spec: services::Service,
    state: State,
    /// Restarts since the service last ran stably.
    attempts: u32,
    /// Being stopped on purpose: not restarted when it ends.
    stopping: bool,
    /// `Type=notify`: its socket, and whether it said `READY=1`.
    notify: Option<OwnedFd>,
    notified: bool,
    /// The read end of its output pipe, while it runs.
    output: Option<OwnedFd>,
    pending: Vec<u8>,
    log: Option<fs::File>,
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    PowerOff,
    Reboot,
}

struct Supervisor {
    sys: RealSys,
    toplevel: String,
    host: String,
    units: BTreeMap<String, Unit>,
    boot: Vec<String>,
    started_order: Vec<String>,
    gettys: BTreeMap<i32, String>,
    /// `ExecReload`/`ExecStop` commands running, by pid: (service, what).
    helpers: BTreeMap<i32, (String, &'static str)>,
    consoles: Vec<String>,
    signals: OwnedFd,
    control: Option<OwnedFd>,
    ready_said: bool,
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

fn control_socket() -> io::Result<OwnedFd> {
    let _ = fs::create_dir_all("/run/strata");
    let _ = fs::remove_file(CONTROL_SOCKET);
    // SAFETY: socket creation; the fd is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(last_error());
    }
    // SAFETY: a fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    bind_unix(&fd, CONTROL_SOCKET)?;
    // Only root may talk to init.
    let _ = fs::set_permissions(
        CONTROL_SOCKET,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    );
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

/// Whether a unit counts as started for those ordered after it and for the ready marker:
/// `simple` and `exec` once running, `notify` once it said `READY=1`, `oneshot` and
/// `forking` once their start process ended; one that ended or failed counts too.
fn is_ready(u: &Unit) -> bool {
    match &u.state {
        State::Stopped => false,
        State::Running { .. } => match u.spec.service_config.Type.as_str() {
            "oneshot" | "forking" => false,
            "notify" => u.notified,
            _ => true,
        },
        State::Exited(_) | State::Failed(_) | State::WaitingRestart { .. } => true,
    }
}

/// The order services stop in at shutdown: the reverse of the order they started in, those
/// not running left out.
pub fn shutdown_order<'a>(started: &'a [String], running: &dyn Fn(&str) -> bool) -> Vec<&'a str> {
    started
        .iter()
        .rev()
        .map(String::as_str)
        .filter(|n| running(n))
        .collect()
}

/// A datagram socket a `Type=notify` service reports to (`NOTIFY_SOCKET`).
fn notify_socket(path: &str) -> io::Result<OwnedFd> {
    let _ = fs::create_dir_all("/run/strata/notify");
    let _ = fs::remove_file(path);
    // SAFETY: socket creation; the fd is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(last_error());
    }
    // SAFETY: a fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    bind_unix(&fd, path)?;
    // Services running as other users report too.
    let _ = fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666));
    Ok(fd)
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

impl Supervisor {
    fn say(&mut self, line: &str) {
        self.sys.console(&format!("strata: {line}"));
    }

    fn sh(&self) -> String {
        format!("{}/sw/bin/sh", self.toplevel)
    }

    fn start(&mut self, name: &str) {
        let Some(unit) = self.units.get(name) else {
            return;
        };
        if matches!(unit.state, State::Running { .. }) {
            return;
        }
        let spec = unit.spec.clone();
        let cfg = &spec.service_config;
        let body = match (&cfg.ExecStart, spec.script.trim().is_empty()) {
            (Some(cmd), _) => format!("exec {cmd}"),
            (None, false) => spec.script.clone(),
            (None, true) => {
                let why = "it has neither a script nor serviceConfig.ExecStart".to_owned();
                self.fail(name, why);
                return;
            }
        };
        let script = if spec.pre_start.trim().is_empty() {
            body
        } else {
            format!("{}\n{body}", spec.pre_start)
        };
        let Some((uid, mut gid, home)) = lookup_user(&cfg.User) else {
            self.fail(name, format!("its user {} does not exist", cfg.User));
            return;
        };
        if let Some(g) = &cfg.Group {
            match lookup_group(g) {
                Some(id) => gid = id,
                None => {
                    self.fail(name, format!("its group {g} does not exist"));
                    return;
                }
            }
        }
        let mut path: Vec<String> = spec.path.iter().map(|p| format!("{p}/bin")).collect();
        path.push(format!("{}/sw/bin", self.toplevel));
        let mut env = vec![
            format!("PATH={}", path.join(":")),
            format!("HOME={home}"),
            format!("USER={}", cfg.User),
            "LANG=C.UTF-8".to_owned(),
        ];
        env.extend(spec.environment.iter().map(|(k, v)| format!("{k}={v}")));
        let mut notify = None;
        if cfg.Type == "notify" {
            let path = format!("/run/strata/notify/{name}");
            match notify_socket(&path) {
                Ok(fd) => {
                    env.push(format!("NOTIFY_SOCKET={path}"));
                    notify = Some(fd);
                }
                Err(e) => {
                    self.fail(name, format!("cannot make its notify socket {path}: {e}"));
                    return;
                }
            }
        }
        let (read, write) = match pipe() {
            Ok(p) => p,
            Err(e) => {
                self.fail(name, format!("cannot make its output pipe: {e}"));
                return;
            }
        };
        let plan = ChildPlan {
            program: cstring(&self.sh()),
            argv: vec![
                // busybox picks its applet by argv[0].
                cstring("sh"),
                cstring("-e"),
                cstring("-c"),
                cstring(&script),
            ],
            env: env.iter().map(|e| cstring(e)).collect(),
            dir: cfg.WorkingDirectory.as_deref().map(cstring),
            ids: (uid != 0 || gid != 0).then_some((uid, gid)),
            output: Some(write.as_raw_fd()),
            tty: None,
        };
        let now = self.sys.now();
        match spawn(&plan) {
            Ok(pid) => {
                drop(write);
                let log = fs::create_dir_all(LOG_DIR).ok().and_then(|()| {
                    fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(format!("{LOG_DIR}/{name}.log"))
                        .ok()
                });
                if let Some(u) = self.units.get_mut(name) {
                    u.state = State::Running { pid, since: now };
                    u.output = Some(read);
                    u.log = log;
                    u.notify = notify;
                    u.notified = false;
                }
                if !self.started_order.iter().any(|n| n == name) {
                    self.started_order.push(name.to_owned());
                }
                self.say(&format!("started {name} (pid {pid})"));
            }
            Err(e) => self.fail(name, format!("cannot start it: {e}")),
        }
    }

    fn fail(&mut self, name: &str, why: String) {
        self.say(&format!("service {name} failed: {why}"));
        if let Some(u) = self.units.get_mut(name) {
            u.state = State::Failed(why);
        }
    }

    /// Copies what a service wrote to the console and its log, line by line.
    fn drain_output(&mut self, name: &str) {
        let Some(u) = self.units.get_mut(name) else {
            return;
        };
        let Some(fd) = &u.output else {
            return;
        };
        let mut buf = [0u8; 4096];
        let mut eof = false;
        loop {
            // SAFETY: reading into a local buffer from our non-blocking pipe.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                u.pending.extend_from_slice(&buf[..n as usize]);
                continue;
            }
            if n == 0 {
                eof = true;
            }
            break;
        }
        let mut lines = Vec::new();
        while let Some(i) = u.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = u.pending.drain(..=i).collect();
            lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
        }
        if eof && !u.pending.is_empty() {
            lines.push(String::from_utf8_lossy(&std::mem::take(&mut u.pending)).into_owned());
        }
        if eof {
            u.output = None;
        }
        for l in &lines {
            if let Some(log) = &mut u.log {
                let _ = writeln!(log, "{l}");
            }
        }
        for l in lines {
            self.sys.console(&format!("[{name}] {l}"));
        }
    }

    /// Reads a `Type=notify` service's messages; `READY=1` marks it started.
    fn read_notify(&mut self, name: &str) {
        let Some(u) = self.units.get_mut(name) else {
            return;
        };
        let Some(fd) = &u.notify else {
            return;
        };
        let mut ready = false;
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: receiving into a local buffer from our non-blocking socket.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                break;
            }
            let msg = String::from_utf8_lossy(&buf[..n as usize]);
            ready |= msg.lines().any(|l| l.trim() == "READY=1");
        }
        if ready && !u.notified {
            u.notified = true;
            self.say(&format!("service {name} is ready"));
        }
    }

    /// Runs `command` (a service's `ExecReload` or `ExecStop`) with `MAINPID` set; its output
    /// goes to the console.
    fn run_helper(&mut self, name: &str, what: &'static str, command: &str, main_pid: i32) {
        let plan = ChildPlan {
            program: cstring(&self.sh()),
            argv: vec![cstring("sh"), cstring("-c"), cstring(command)],
            env: vec![
                cstring(&format!("PATH={}/sw/bin", self.toplevel)),
                cstring(&format!("MAINPID={main_pid}")),
            ],
            dir: None,
            ids: None,
            output: None,
            tty: None,
        };
        match spawn(&plan) {
            Ok(pid) => {
                self.helpers.insert(pid, (name.to_owned(), what));
            }
            Err(e) => self.say(&format!("cannot run {what} of {name}: {e}")),
        }
    }

    /// `ExecReload`, or SIGHUP to the service's main process.
    fn reload(&mut self, name: &str) -> Result<(), String> {
        let u = self.units.get(name).ok_or(format!("no service {name}"))?;
        let State::Running { pid, .. } = u.state else {
            return Err(format!("service {name} is not running"));
        };
        match u.spec.service_config.ExecReload.clone() {
            Some(cmd) => self.run_helper(name, "ExecReload", &cmd, pid),
            // SAFETY: signalling the service's main process.
            None => unsafe {
                libc::kill(pid, libc::SIGHUP);
            },
        }
        self.say(&format!("reloading {name}"));
        Ok(())
    }

    /// A child ended: a service (restart or not), a getty (respawn), or an orphan.
    fn reaped(&mut self, pid: i32, exit: Exit) {
        if let Some(tty) = self.gettys.remove(&pid) {
            self.spawn_getty(&tty);
            return;
        }
        if let Some((name, what)) = self.helpers.remove(&pid) {
            if !exit.success() {
                self.say(&format!("{what} of {name} {exit}"));
            }
            return;
        }
        let Some(name) = self.units.iter().find_map(|(n, u)| {
            matches!(u.state, State::Running { pid: p, .. } if p == pid).then(|| n.clone())
        }) else {
            return; // an orphan
        };
        self.drain_output(&name);
        let now = self.sys.now();
        let Some(u) = self.units.get_mut(&name) else {
            return;
        };
        let ran = match u.state {
            State::Running { since, .. } => now.saturating_sub(since),
            _ => Duration::ZERO,
        };
        if ran >= services::STABLE_AFTER {
            u.attempts = 0;
        }
        let cfg = &u.spec.service_config;
        if u.stopping {
            u.state = State::Exited(exit);
        } else if services::should_restart(&cfg.Restart, exit) {
            u.attempts += 1;
            let base = services::parse_duration(&cfg.RestartSec).unwrap_or(Duration::from_secs(1));
            let delay = services::restart_delay(base, u.attempts);
            u.state = State::WaitingRestart { at: now + delay };
            let attempts = u.attempts;
            self.say(&format!(
                "service {name} {exit}; restarting in {:.1} s (restart {attempts})",
                delay.as_secs_f64()
            ));
        } else {
            u.state = State::Exited(exit);
            u.notify = None;
            let forking = cfg.Type == "forking";
            if exit.success() && forking {
                self.say(&format!("service {name} is running in the background"));
            } else if exit.success() {
                self.say(&format!("service {name} finished"));
            } else {
                self.say(&format!("service {name} {exit}"));
            }
        }
    }

    fn spawn_getty(&mut self, tty: &str) {
        let getty = format!("{}/sw/bin/getty", self.toplevel);
        if !std::path::Path::new(&getty).exists() {
            return;
        }
        let plan = ChildPlan {
            program: cstring(&getty),
            argv: [
                "getty",
                "-L",
                "-l",
                &format!("{}/sw/bin/login", self.toplevel),
                "115200",
                tty,
                "vt100",
            ]
            .iter()
            .map(|s| cstring(s))
            .collect(),
            env: vec![
                cstring(&format!("PATH={}/sw/bin", self.toplevel)),
                cstring("TERM=vt100"),
            ],
            dir: None,
            ids: None,
            output: None,
            tty: Some(cstring(&format!("/dev/{tty}"))),
        };
        if let Ok(pid) = spawn(&plan) {
            self.gettys.insert(pid, tty.to_owned());
        }
    }

    /// Starts what is due: restarts whose time came, and boot services whose `after` are done.
    fn step(&mut self) {
        let now = self.sys.now();
        let due: Vec<String> = self
            .units
            .iter()
            .filter(|(_, u)| matches!(u.state, State::WaitingRestart { at } if at <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for n in due {
            self.start(&n);
        }
        let boot = self.boot.clone();
        for name in &boot {
            if !matches!(self.units[name].state, State::Stopped) {
                continue;
            }
            let spec = self.units[name].spec.clone();
            let mut waiting = false;
            for a in spec.after.iter().filter_map(|a| services::service_name(a)) {
                if !boot.iter().any(|b| b == a) {
                    continue;
                }
                waiting |= !is_ready(&self.units[a]);
            }
            if waiting {
                continue;
            }
            let failed_req = spec
                .requires
                .iter()
                .filter_map(|r| services::service_name(r))
                .find(|r| {
                    matches!(
                        self.units.get(*r).map(|u| &u.state),
                        Some(State::Failed(_)) | Some(State::Exited(Exit::Code(1..)))
                    )
                })
                .map(str::to_owned);
            if let Some(r) = failed_req {
                self.fail(name, format!("it requires {r}, which failed"));
                continue;
            }
            self.start(name);
        }
        if !self.ready_said && self.boot.iter().all(|n| is_ready(&self.units[n])) {
            self.ready_said = true;
            let host = self.host.clone();
            let n = self.boot.len();
            self.say(&format!(
                "{host} is up ({n} service{} started)",
                if n == 1 { "" } else { "s" }
            ));
            for tty in self.consoles.clone() {
                self.spawn_getty(&tty);
            }
        }
    }

    fn next_deadline(&self) -> Option<Duration> {
        self.units
            .values()
            .filter_map(|u| match u.state {
                State::WaitingRestart { at } => Some(at),
                _ => None,
            })
            .min()
    }

    fn reap_all(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: non-blocking wait for any child.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            self.reaped(pid, exit_of(status));
        }
    }

    /// Reads the pending signals; `Some` when one asks for a shutdown.
    fn read_signals(&mut self) -> Option<Shutdown> {
        let mut want = None;
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
                libc::SIGCHLD => self.reap_all(),
                libc::SIGTERM | libc::SIGUSR2 | libc::SIGPWR => want = Some(Shutdown::PowerOff),
                libc::SIGINT | libc::SIGUSR1 => want = Some(Shutdown::Reboot),
                _ => {}
            }
        }
        self.reap_all();
        want
    }

    /// Answers one control connection.
    fn control_request(&mut self, conn: OwnedFd) -> Option<Shutdown> {
        // The client writes its request at once; read what is there (bounded by a timeout).
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
        let req = if n > 0 {
            String::from_utf8_lossy(&buf[..n as usize])
                .trim()
                .to_owned()
        } else {
            String::new()
        };
        let mut words = req.split_whitespace();
        let (reply, shutdown) = match (words.next(), words.next()) {
            (Some("status"), None) => {
                let mut s = String::from("ok\n");
                for (n, u) in &self.units {
                    let st = match &u.state {
                        State::Stopped => "stopped".to_owned(),
                        State::Running { pid, .. } => format!("running (pid {pid})"),
                        State::Exited(e) => format!("exited: {e}"),
                        State::WaitingRestart { .. } => "waiting to restart".to_owned(),
                        State::Failed(w) => format!("failed: {w}"),
                    };
                    s.push_str(&format!("{n}\t{st}\n"));
                }
                (s, None)
            }
            (Some("reload"), Some(name)) => match self.reload(name) {
                Ok(()) => ("ok\n".to_owned(), None),
                Err(e) => (format!("error: {e}\n"), None),
            },
            (Some(verb @ ("start" | "stop" | "restart")), Some(name)) => {
                if !self.units.contains_key(name) {
                    (format!("error: no service {name}\n"), None)
                } else {
                    if verb != "start" {
                        self.stop(name);
                    }
                    if verb != "stop" {
                        if let Some(u) = self.units.get_mut(name) {
                            u.attempts = 0;
                            u.state = State::Stopped;
                        }
                        self.start(name);
                    }
                    ("ok\n".to_owned(), None)
                }
            }
            (Some("poweroff"), None) => ("ok\n".to_owned(), Some(Shutdown::PowerOff)),
            (Some("reboot"), None) => ("ok\n".to_owned(), Some(Shutdown::Reboot)),
            _ => (format!("error: unknown request {req:?}\n"), None),
        };
        // SAFETY: writing our reply from a local buffer.
        unsafe { libc::write(conn.as_raw_fd(), reply.as_ptr().cast(), reply.len()) };
        shutdown
    }

    /// Stops one service: SIGTERM to its process group, then waits up to [`STOP_TIMEOUT`]
    /// before SIGKILL.
    fn stop(&mut self, name: &str) {
        let Some(State::Running { pid, .. }) = self.units.get(name).map(|u| u.state.clone()) else {
            if let Some(u) = self.units.get_mut(name) {
                u.state = State::Stopped;
            }
            return;
        };
        let exec_stop = self.units.get_mut(name).and_then(|u| {
            u.stopping = true;
            u.spec.service_config.ExecStop.clone()
        });
        match exec_stop {
            Some(cmd) => self.run_helper(name, "ExecStop", &cmd, pid),
            // SAFETY: signalling the service's process group.
            None => unsafe {
                libc::kill(-pid, libc::SIGTERM);
            },
        }
        let deadline = self.sys.now() + STOP_TIMEOUT;
        while matches!(self.units[name].state, State::Running { .. }) {
            let now = self.sys.now();
            if now >= deadline {
                // SAFETY: as above.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                let mut status = 0;
                // SAFETY: waiting for that child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                self.reaped(pid, exit_of(status));
                break;
            }
            self.wait_signals(deadline - now);
            self.reap_all();
        }
        if let Some(u) = self.units.get_mut(name) {
            u.stopping = false;
            u.state = State::Stopped;
        }
        self.say(&format!("stopped {name}"));
    }

    fn wait_signals(&mut self, timeout: Duration) {
        let mut pfd = libc::pollfd {
            fd: self.signals.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, ms) };
    }

    /// The main loop; returns when a shutdown is asked for.
    fn run(&mut self) -> Shutdown {
        loop {
            self.step();
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
            let outputs: Vec<(String, RawFd)> = self
                .units
                .iter()
                .filter_map(|(n, u)| u.output.as_ref().map(|f| (n.clone(), f.as_raw_fd())))
                .collect();
            let notifies: Vec<(String, RawFd)> = self
                .units
                .iter()
                .filter_map(|(n, u)| u.notify.as_ref().map(|f| (n.clone(), f.as_raw_fd())))
                .collect();
            for (_, fd) in outputs.iter().chain(&notifies) {
                fds.push(libc::pollfd {
                    fd: *fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let timeout = match self.next_deadline() {
                Some(at) => at
                    .saturating_sub(self.sys.now())
                    .as_millis()
                    .min(i32::MAX as u128) as i32,
                None => -1,
            };
            // SAFETY: a valid array of pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n <= 0 {
                continue;
            }
            let base = if self.control.is_some() { 2 } else { 1 };
            for (i, (name, _)) in outputs.iter().enumerate() {
                if fds[base + i].revents != 0 {
                    self.drain_output(name);
                }
            }
            for (i, (name, _)) in notifies.iter().enumerate() {
                if fds[base + outputs.len() + i].revents != 0 {
                    self.read_notify(name);
                }
            }
            if self.control.is_some() && fds[1].revents != 0 {
                if let Some(c) = &self.control {
                    // SAFETY: accepting on our listening socket.
                    let conn = unsafe {
                        libc::accept4(
                            c.as_raw_fd(),
                            std::ptr::null_mut(),
                            std::ptr::null_mut(),
                            libc::SOCK_CLOEXEC,
                        )
                    };
                    if conn >= 0 {
                        // SAFETY: a fresh descriptor.
                        let conn = unsafe { OwnedFd::from_raw_fd(conn) };
                        if let Some(s) = self.control_request(conn) {
                            return s;
                        }
                    }
                }
            }
            if fds[0].revents != 0 {
                if let Some(s) = self.read_signals() {
                    return s;
                }
            }
        }
    }

    /// Stops every service newest first, kills what is left, syncs, remounts read-only.
    fn shut_down(&mut self, how: Shutdown) {
        self.say(match how {
            Shutdown::PowerOff => "powering off",
            Shutdown::Reboot => "rebooting",
        });
        let started = self.started_order.clone();
        let order = shutdown_order(&started, &|n| {
            matches!(self.units[n].state, State::Running { .. })
        });
        for name in order {
            self.stop(name);
        }
        // SAFETY: signalling every process but ourselves.
        unsafe { libc::kill(-1, libc::SIGTERM) };
        self.wait_signals(Duration::from_secs(1));
        // SAFETY: as above.
        unsafe { libc::kill(-1, libc::SIGKILL) };
        self.reap_all();
        // SAFETY: flushing file systems.
        unsafe { libc::sync() };
        let _ = self.sys.mount("", "/", "", ms::REMOUNT | ms::RDONLY, "");
        // SAFETY: as above.
        unsafe { libc::sync() };
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
    let manifest = fs::read_to_string(format!("{toplevel}/activation.json"))
        .map_err(|e| format!("cannot read {toplevel}/activation.json: {e}"))
        .and_then(|j| ActivationManifest::from_json(&j).map_err(|e| e.to_string()));
    let (host_name, service_specs) = match manifest {
        Ok(m) => (m.host_name, m.services),
        Err(e) => {
            sys.console(&format!("strata: {e}; no services start"));
            (String::new(), BTreeMap::new())
        }
    };
    // The same activation `strata switch` runs: users, /etc, the host name.
    match strata_activate::activate(
        std::path::Path::new("/"),
        &toplevel,
        &strata_activate::Options { set_hostname: true },
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
    let boot = match services::boot_order(&service_specs) {
        Ok(b) => b,
        Err(e) => {
            sys.console(&format!("strata: {e}; no services start"));
            Vec::new()
        }
    };
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
    let units = service_specs
        .into_iter()
        .map(|(n, spec)| {
            (
                n,
                Unit {
                    spec,
                    state: State::Stopped,
                    attempts: 0,
                    stopping: false,
                    notify: None,
                    notified: false,
                    output: None,
                    pending: Vec::new(),
                    log: None,
                },
            )
        })
        .collect();
    let mut sup = Supervisor {
        sys,
        toplevel,
        host: host_name,
        units,
        boot,
        started_order: Vec::new(),
        gettys: BTreeMap::new(),
        helpers: BTreeMap::new(),
        consoles,
        signals,
        control,
        ready_said: false,
    };
    let how = sup.run();
    sup.shut_down(how);
    let cmd = match how {
        Shutdown::PowerOff => libc::RB_POWER_OFF,
        Shutdown::Reboot => libc::RB_AUTOBOOT,
    };
    // SAFETY: the final reboot(2).
    unsafe { libc::reboot(cmd) };
    sup.say(&format!("reboot(2) failed: {}", last_error()));
    crate::wait_forever()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn unit(kind: &str, state: State, notified: bool) -> Unit {
        let spec = crate::services::tests::service(kind);
        Unit {
            spec,
            state,
            attempts: 0,
            stopping: false,
            notify: None,
            notified,
            output: None,
            pending: Vec::new(),
            log: None,
        }
    }

    #[test]
    fn readiness_by_type() {
        let running = || State::Running {
            pid: 7,
            since: Duration::ZERO,
        };
        let cases = [
            ("simple", running(), false, true),
            ("exec", running(), false, true),
            ("notify", running(), false, false),
            ("notify", running(), true, true),
            ("oneshot", running(), false, false),
            ("oneshot", State::Exited(Exit::Code(0)), false, true),
            ("forking", running(), false, false),
            ("forking", State::Exited(Exit::Code(0)), false, true),
            ("simple", State::Stopped, false, false),
            ("simple", State::Failed("x".into()), false, true),
        ];
        for (kind, state, notified, want) in cases {
            let desc = format!("{kind} {state:?} notified={notified}");
            assert_eq!(is_ready(&unit(kind, state, notified)), want, "{desc}");
        }
    }

    #[test]
    fn services_stop_newest_first_and_only_if_running() {
        let started: Vec<String> = ["db", "hello", "web", "cron"].map(String::from).into();
        let order = shutdown_order(&started, &|n| n != "hello");
        assert_eq!(order, ["cron", "web", "db"]);
    }

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
