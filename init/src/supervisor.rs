//! The service supervisor of stage 2: its logic, over the [`Supervise`] trait, so that it runs
//! against the kernel ([`crate::stage2::RealSupervise`]) and against a simulated one in the
//! tests (processes that exit, ignore signals or run forever on a simulated clock).
//!
//! The services to start wait in a queue (at boot the boot order, [`services::boot_order`]);
//! each starts once the services it is ordered after are ready ([`is_ready`]): those its
//! `after` names, and for a target there (`network-online.target`) the services wanted by
//! that target ([`services::ordered_after`]), as far as they are queued or still starting.
//! One that ends is restarted by its `Restart=` policy after a delay that doubles
//! ([`services::restart_delay`]); its output goes to the console and to its log, line by
//! line; a login prompt runs on each console once the boot services are up, and comes back
//! when it ends. Control requests (one line each, answered `ok` or `error: ...`): `status`,
//! `start NAME` (nothing if it runs or is active), `stop NAME`, `restart NAME`, `reload NAME`,
//! `apply TOPLEVEL` (move the services to another generation after its activation:
//! [`services::service_plan`]; what it starts is queued in [`services::start_order`], with the
//! same target rules), `poweroff`, `reboot`. A shutdown stops the services newest first, each
//! with a bounded wait ([`STOP_TIMEOUT`], then SIGKILL), then signals every process.
//!
//! `Type=` as far as it applies without systemd: `simple` and `exec` count as started once
//! running, `oneshot` once finished, `notify` once it sent `READY=1` to `NOTIFY_SOCKET`,
//! `forking` once its start process ended (the daemon it leaves is not tracked).
//!
//! `RemainAfterExit = true` (systemd's meaning; what oneshots use it for): a service whose
//! process exits successfully, not stopped on purpose, stays *active* without a process
//! (`active (exited)` in `status`) instead of ending, and no `Restart=` applies. It counts as
//! running for `status`, for a switch's plan (an unchanged one is not run again) and for
//! `start`; stopping it runs its `ExecStop` (a helper without `MAINPID`, with the same
//! bounded wait) and marks it stopped; reloading it runs its `ExecReload`, and is an error
//! without one (there is no process to send SIGHUP). One that fails does not stay active.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::time::Duration;

use crate::services::{self, Exit, Service};

/// How long a service gets to stop before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a killed service may take to be reaped before it is given up on.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// Where notify sockets are made.
pub const NOTIFY_DIR: &str = "/run/strata/notify";

/// Why the supervisor stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    PowerOff,
    Reboot,
}

/// Something that happened, as [`Supervise::wait`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A child ended (reaped).
    Exited { pid: i32, exit: Exit },
    /// A child wrote to its captured output; `eof` when the pipe closed.
    Output { pid: i32, data: Vec<u8>, eof: bool },
    /// A `Type=notify` child sent a message.
    Notify { pid: i32, message: String },
    /// A signal asks for a shutdown.
    Signal(Shutdown),
    /// A control request, to answer with [`Supervise::reply`].
    Request { id: u64, line: String },
}

/// A process to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spawn {
    pub program: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub dir: Option<String>,
    /// (uid, gid) to switch to; `None` stays root.
    pub ids: Option<(u32, u32)>,
    /// Capture stdout and stderr (reported as [`Event::Output`]); otherwise the console.
    pub capture: bool,
    /// Make a notify socket at this path (reported as [`Event::Notify`]).
    pub notify: Option<String>,
    /// Run on this terminal as its controlling terminal (a login prompt).
    pub tty: Option<String>,
}

/// What the supervisor asks of the system.
pub trait Supervise {
    /// Starts a process in a session of its own; its pid.
    fn spawn(&mut self, s: &Spawn) -> io::Result<i32>;
    /// Waits for events, at most `timeout` (forever for `None`); may return none.
    fn wait(&mut self, timeout: Option<Duration>) -> Vec<Event>;
    fn reply(&mut self, id: u64, text: &str);
    /// Signals the process group led by `pid`.
    fn signal_group(&mut self, pid: i32, sig: i32);
    /// Signals every process but PID 1.
    fn signal_all(&mut self, sig: i32);
    /// Time since boot.
    fn now(&mut self) -> Duration;
    fn console(&mut self, line: &str);
    /// Appends a line to a service's log.
    fn log(&mut self, service: &str, line: &str);
    /// uid, gid and home of a user.
    fn user(&mut self, name: &str) -> Option<(u32, u32, String)>;
    fn group(&mut self, name: &str) -> Option<u32>;
    fn exists(&mut self, path: &str) -> bool;
    /// The host name and services of the generation `toplevel` (its `activation.json`).
    fn read_services(
        &mut self,
        toplevel: &str,
    ) -> Result<(String, BTreeMap<String, Service>), ReadServicesError>;
}

/// Why the services of a generation could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadServicesError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] strata_activate::manifest::ManifestError),
}

/// Why a service could not be reloaded.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("no service {0}")]
    NoService(String),
    #[error("service {0} is not running")]
    NotRunning(String),
    #[error("service {0} is active without a process and has no ExecReload")]
    NoReloadCommand(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    Stopped,
    Running {
        pid: i32,
        since: Duration,
    },
    /// A oneshot that finished, or a service that ended and is not restarted.
    Exited(Exit),
    /// A `RemainAfterExit` service whose process exited successfully: active until stopped.
    Active {
        since: Duration,
    },
    WaitingRestart {
        at: Duration,
    },
    /// Could not be started; why.
    Failed(String),
}

#[derive(Debug)]
pub(crate) struct Unit {
    pub(crate) spec: Service,
    pub(crate) state: State,
    /// Restarts since the service last ran stably.
    attempts: u32,
    /// Being stopped on purpose: not restarted when it ends.
    stopping: bool,
    pub(crate) notified: bool,
    pending: Vec<u8>,
}

impl Unit {
    pub(crate) fn new(spec: Service) -> Unit {
        Unit {
            spec,
            state: State::Stopped,
            attempts: 0,
            stopping: false,
            notified: false,
            pending: Vec::new(),
        }
    }
}

/// Whether a unit counts as started for those ordered after it and for the ready marker:
/// `simple` and `exec` once running, `notify` once it said `READY=1`, `oneshot` and
/// `forking` once their start process ended; one that ended, failed or stays active counts
/// too.
pub(crate) fn is_ready(u: &Unit) -> bool {
    match &u.state {
        State::Stopped => false,
        State::Running { .. } => match u.spec.service_config.Type.as_str() {
            "oneshot" | "forking" => false,
            "notify" => u.notified,
            _ => true,
        },
        State::Exited(_)
        | State::Active { .. }
        | State::Failed(_)
        | State::WaitingRestart { .. } => true,
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

/// The supervisor.
#[derive(Debug)]
pub struct Supervisor<S: Supervise> {
    pub sys: S,
    toplevel: String,
    host: String,
    pub(crate) units: BTreeMap<String, Unit>,
    boot: Vec<String>,
    /// Services to start, in start order, each once what it is ordered after is ready.
    queue: Vec<String>,
    started_order: Vec<String>,
    /// Running service processes: pid → service.
    pids: BTreeMap<i32, String>,
    gettys: BTreeMap<i32, String>,
    /// `ExecReload`/`ExecStop` commands running: pid → (service, what).
    helpers: BTreeMap<i32, (String, &'static str)>,
    consoles: Vec<String>,
    ready_said: bool,
    /// A shutdown asked for while a service was being stopped.
    pending: Option<Shutdown>,
}

impl<S: Supervise> Supervisor<S> {
    /// A supervisor for the generation `toplevel` with `services`, login prompts on
    /// `consoles`. A boot order that cannot be made is said, and no service starts.
    pub fn new(
        mut sys: S,
        toplevel: &str,
        host: &str,
        services: BTreeMap<String, Service>,
        consoles: Vec<String>,
    ) -> Supervisor<S> {
        let boot = match services::boot_order(&services) {
            Ok(b) => b,
            Err(e) => {
                sys.console(&format!("strata: {e}; no services start"));
                Vec::new()
            }
        };
        Supervisor {
            sys,
            toplevel: toplevel.to_owned(),
            host: host.to_owned(),
            units: services
                .into_iter()
                .map(|(n, s)| (n, Unit::new(s)))
                .collect(),
            queue: boot.clone(),
            boot,
            started_order: Vec::new(),
            pids: BTreeMap::new(),
            gettys: BTreeMap::new(),
            helpers: BTreeMap::new(),
            consoles,
            ready_said: false,
            pending: None,
        }
    }

    fn say(&mut self, line: &str) {
        self.sys.console(&format!("strata: {line}"));
    }

    fn sh(&self) -> String {
        format!("{}/sw/bin/sh", self.toplevel)
    }

    fn running_pid(&self, name: &str) -> Option<i32> {
        match self.units.get(name).map(|u| &u.state) {
            Some(State::Running { pid, .. }) => Some(*pid),
            _ => None,
        }
    }

    /// Whether a service runs or is active (`RemainAfterExit`).
    fn is_up(&self, name: &str) -> bool {
        matches!(
            self.units.get(name).map(|u| &u.state),
            Some(State::Running { .. } | State::Active { .. })
        )
    }

    fn fail(&mut self, name: &str, why: String) {
        self.say(&format!("service {name} failed: {why}"));
        if let Some(u) = self.units.get_mut(name) {
            u.state = State::Failed(why);
        }
    }

    fn start(&mut self, name: &str) {
        let Some(unit) = self.units.get(name) else {
            return;
        };
        if matches!(unit.state, State::Running { .. } | State::Active { .. }) {
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
        let Some((uid, mut gid, home)) = self.sys.user(&cfg.User) else {
            self.fail(name, format!("its user {} does not exist", cfg.User));
            return;
        };
        if let Some(g) = &cfg.Group {
            match self.sys.group(g) {
                Some(id) => gid = id,
                None => {
                    self.fail(name, format!("its group {g} does not exist"));
                    return;
                }
            }
        }
        let mut path: Vec<String> = spec.path.iter().map(|p| format!("{p}/bin")).collect();
        path.push("/run/wrappers/bin".to_owned());
        path.push(format!("{}/sw/bin", self.toplevel));
        path.push(format!("{}/sw/sbin", self.toplevel));
        let mut env = vec![
            format!("PATH={}", path.join(":")),
            format!("HOME={home}"),
            format!("USER={}", cfg.User),
            "LANG=C.UTF-8".to_owned(),
        ];
        env.extend(spec.environment.iter().map(|(k, v)| format!("{k}={v}")));
        let notify = (cfg.Type == "notify").then(|| format!("{NOTIFY_DIR}/{name}"));
        if let Some(n) = &notify {
            env.push(format!("NOTIFY_SOCKET={n}"));
        }
        let plan = Spawn {
            program: self.sh(),
            // busybox picks its applet by argv[0].
            argv: vec!["sh".into(), "-e".into(), "-c".into(), script],
            env,
            dir: cfg.WorkingDirectory.clone(),
            ids: (uid != 0 || gid != 0).then_some((uid, gid)),
            capture: true,
            notify,
            tty: None,
        };
        let now = self.sys.now();
        match self.sys.spawn(&plan) {
            Ok(pid) => {
                if let Some(u) = self.units.get_mut(name) {
                    u.state = State::Running { pid, since: now };
                    u.notified = false;
                    u.stopping = false;
                }
                self.pids.insert(pid, name.to_owned());
                if !self.started_order.iter().any(|n| n == name) {
                    self.started_order.push(name.to_owned());
                }
                self.say(&format!("started {name} (pid {pid})"));
            }
            Err(e) => self.fail(name, format!("cannot start it: {e}")),
        }
    }

    /// Copies complete lines a service wrote to the console and its log.
    fn output(&mut self, pid: i32, data: &[u8], eof: bool) {
        let Some(name) = self.pids.get(&pid).cloned() else {
            return;
        };
        let Some(u) = self.units.get_mut(&name) else {
            return;
        };
        u.pending.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(i) = u.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = u.pending.drain(..=i).collect();
            lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
        }
        if eof && !u.pending.is_empty() {
            lines.push(String::from_utf8_lossy(&std::mem::take(&mut u.pending)).into_owned());
        }
        for l in lines {
            self.sys.log(&name, &l);
            self.sys.console(&format!("[{name}] {l}"));
        }
    }

    fn notified(&mut self, pid: i32, message: &str) {
        let Some(name) = self.pids.get(&pid).cloned() else {
            return;
        };
        let ready = message.lines().any(|l| l.trim() == "READY=1");
        if let Some(u) = self.units.get_mut(&name) {
            if ready && !u.notified {
                u.notified = true;
                self.say(&format!("service {name} is ready"));
            }
        }
    }

    /// Runs `command` (`ExecReload`, `ExecStop`), with `MAINPID` set when there is a main
    /// process; its pid.
    fn run_helper(
        &mut self,
        name: &str,
        what: &'static str,
        command: &str,
        main_pid: Option<i32>,
    ) -> Option<i32> {
        let mut env = vec![format!("PATH={0}/sw/bin:{0}/sw/sbin", self.toplevel)];
        env.extend(main_pid.map(|p| format!("MAINPID={p}")));
        let plan = Spawn {
            program: self.sh(),
            argv: vec!["sh".into(), "-c".into(), command.into()],
            env,
            dir: None,
            ids: None,
            capture: false,
            notify: None,
            tty: None,
        };
        match self.sys.spawn(&plan) {
            Ok(pid) => {
                self.helpers.insert(pid, (name.to_owned(), what));
                Some(pid)
            }
            Err(e) => {
                self.say(&format!("cannot run {what} of {name}: {e}"));
                None
            }
        }
    }

    fn reload(&mut self, name: &str) -> Result<(), ReloadError> {
        let u = self
            .units
            .get(name)
            .ok_or_else(|| ReloadError::NoService(name.to_owned()))?;
        let pid = match u.state {
            State::Running { pid, .. } => Some(pid),
            State::Active { .. } => None,
            _ => return Err(ReloadError::NotRunning(name.to_owned())),
        };
        match (u.spec.service_config.ExecReload.clone(), pid) {
            (Some(cmd), _) => {
                self.run_helper(name, "ExecReload", &cmd, pid);
            }
            (None, Some(pid)) => self.sys.signal_group(pid, libc::SIGHUP),
            (None, None) => return Err(ReloadError::NoReloadCommand(name.to_owned())),
        }
        self.say(&format!("reloading {name}"));
        Ok(())
    }

    /// A child ended: a service (restart or not), a login prompt (again), a helper, or an
    /// orphan.
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
        let Some(name) = self.pids.remove(&pid) else {
            return; // an orphan
        };
        self.output(pid, &[], true);
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
        let message = if u.stopping {
            u.state = State::Exited(exit);
            None
        } else if exit.success() && cfg.RemainAfterExit {
            u.state = State::Active { since: now };
            Some(format!(
                "service {name} finished; it stays active (RemainAfterExit)"
            ))
        } else if services::should_restart(&cfg.Restart, exit) {
            u.attempts += 1;
            let base = services::parse_duration(&cfg.RestartSec).unwrap_or(Duration::from_secs(1));
            let delay = services::restart_delay(base, u.attempts);
            u.state = State::WaitingRestart { at: now + delay };
            Some(format!(
                "service {name} {exit}; restarting in {:.1} s (restart {})",
                delay.as_secs_f64(),
                u.attempts
            ))
        } else {
            u.state = State::Exited(exit);
            Some(if exit.success() && cfg.Type == "forking" {
                format!("service {name} is running in the background")
            } else if exit.success() {
                format!("service {name} finished")
            } else {
                format!("service {name} {exit}")
            })
        };
        if let Some(m) = message {
            self.say(&m);
        }
    }

    fn spawn_getty(&mut self, tty: &str) {
        let sw = format!("{}/sw", self.toplevel);
        let path = format!("/run/wrappers/bin:{sw}/bin:{sw}/sbin");
        // Debian's agetty and login (util-linux and login, both essential), else busybox's.
        let (program, argv) = if self.sys.exists(&format!("{sw}/sbin/agetty")) {
            (
                format!("{sw}/sbin/agetty"),
                vec![
                    "agetty".into(),
                    "-L".into(),
                    "--noclear".into(),
                    "--login-program".into(),
                    format!("{sw}/bin/login"),
                    tty.into(),
                    "115200".into(),
                    "vt100".into(),
                ],
            )
        } else if self.sys.exists(&format!("{sw}/bin/getty")) {
            (
                format!("{sw}/bin/getty"),
                vec![
                    "getty".into(),
                    "-L".into(),
                    "-l".into(),
                    format!("{sw}/bin/login"),
                    "115200".into(),
                    tty.into(),
                    "vt100".into(),
                ],
            )
        } else {
            return;
        };
        let plan = Spawn {
            program,
            argv,
            env: vec![format!("PATH={path}"), "TERM=vt100".into()],
            dir: None,
            ids: None,
            capture: false,
            notify: None,
            tty: Some(format!("/dev/{tty}")),
        };
        if let Ok(pid) = self.sys.spawn(&plan) {
            self.gettys.insert(pid, tty.to_owned());
        }
    }

    /// Whether `name` must wait before it starts: a service it is ordered after
    /// ([`services::ordered_after`]) is queued, or runs and is not ready yet.
    fn waiting(&self, name: &str) -> bool {
        let among: Vec<(&str, &Service)> = self
            .units
            .iter()
            .filter(|(n, u)| {
                self.queue.contains(n) || (matches!(u.state, State::Running { .. }) && !is_ready(u))
            })
            .map(|(n, u)| (n.as_str(), &u.spec))
            .collect();
        self.units
            .get(name)
            .is_some_and(|u| !services::ordered_after(name, &u.spec, &among).is_empty())
    }

    /// Starts what is due: restarts whose time came, and queued services whose `after` (and
    /// the services of the targets there) are ready; says when the boot services are all up
    /// and starts the login prompts.
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
        for name in self.queue.clone() {
            // Started meanwhile by a request, or gone: nothing left to do.
            if !matches!(
                self.units.get(&name).map(|u| &u.state),
                Some(State::Stopped)
            ) {
                self.queue.retain(|n| *n != name);
                continue;
            }
            if self.waiting(&name) {
                continue;
            }
            self.queue.retain(|n| *n != name);
            let failed_req = self.units[&name]
                .spec
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
                self.fail(&name, format!("it requires {r}, which failed"));
                continue;
            }
            self.start(&name);
        }
        let up = |n: &String| {
            !self.queue.contains(n)
                && (matches!(self.units[n].state, State::Stopped) || is_ready(&self.units[n]))
        };
        if !self.ready_said && self.boot.iter().all(up) {
            self.ready_said = true;
            let n = self.boot.len();
            let line = format!(
                "{} is up ({n} service{} started)",
                self.host,
                if n == 1 { "" } else { "s" }
            );
            self.say(&line);
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

    fn status(&self) -> String {
        let mut s = String::from("ok\n");
        for (n, u) in &self.units {
            let st = match &u.state {
                State::Stopped => "stopped".to_owned(),
                State::Running { pid, .. } => format!("running (pid {pid})"),
                State::Exited(e) => format!("exited: {e}"),
                State::Active { .. } => "active (exited)".to_owned(),
                State::WaitingRestart { .. } => "waiting to restart".to_owned(),
                State::Failed(w) => format!("failed: {w}"),
            };
            s.push_str(&format!("{n}\t{st}\n"));
        }
        s
    }

    /// `yes` when nothing is left to start or to reload: the queue is empty, no helper
    /// (`ExecReload`, `ExecStartPost`...) runs, and no running service is still getting ready;
    /// else `no`. A switch asks it after `apply`, so that it returns once the services did.
    fn settled(&self) -> String {
        let starting = self
            .units
            .values()
            .any(|u| matches!(u.state, State::Running { .. }) && !is_ready(u));
        if self.queue.is_empty() && self.helpers.is_empty() && !starting {
            "yes\n".to_owned()
        } else {
            "no\n".to_owned()
        }
    }

    /// Answers a control request; `Some` when it asks for a shutdown.
    fn request(&mut self, id: u64, line: &str) -> Option<Shutdown> {
        let mut words = line.split_whitespace();
        let (reply, shutdown) = match (words.next(), words.next(), words.next()) {
            (Some("status"), None, None) => (self.status(), None),
            (Some("poweroff"), None, None) => ("ok\n".to_owned(), Some(Shutdown::PowerOff)),
            (Some("reboot"), None, None) => ("ok\n".to_owned(), Some(Shutdown::Reboot)),
            (Some("apply"), Some(toplevel), None) => (self.apply(toplevel), None),
            (Some("settled"), None, None) => (self.settled(), None),
            (Some("reload"), Some(name), None) => match self.reload(name) {
                Ok(()) => ("ok\n".to_owned(), None),
                Err(e) => (format!("error: {e}\n"), None),
            },
            (Some(verb @ ("start" | "stop" | "restart")), Some(name), None) => {
                if !self.units.contains_key(name) {
                    (format!("error: no service {name}\n"), None)
                } else {
                    if verb != "start" {
                        self.stop(name);
                    }
                    // `start` of a service that runs or is active does nothing.
                    if verb != "stop" && !self.is_up(name) {
                        if let Some(u) = self.units.get_mut(name) {
                            u.attempts = 0;
                            u.state = State::Stopped;
                        }
                        self.queue.retain(|n| n != name);
                        self.start(name);
                    }
                    ("ok\n".to_owned(), None)
                }
            }
            _ => (format!("error: unknown request {:?}\n", line.trim()), None),
        };
        self.sys.reply(id, &reply);
        shutdown
    }

    /// Moves the services to the generation `toplevel` (after its activation): stops those it
    /// no longer has and those that changed (with their old definitions: an active
    /// `RemainAfterExit` service's `ExecStop` runs), takes the new definitions, queues the
    /// changed and the new ones and those of the boot set that are not running (in
    /// [`services::start_order`], so `after` and targets order them as at boot; started by
    /// [`step`](Self::step)), reloads those whose `reloadTriggers` changed and those that
    /// changed with `reloadIfChanged` (with the new `ExecReload`), and leaves those with
    /// `restartIfChanged = false` running. An active service that did not change stays as it
    /// is. The answer lists what was done, one line each.
    fn apply(&mut self, toplevel: &str) -> String {
        let (host, new) = match self.sys.read_services(toplevel) {
            Ok(x) => x,
            Err(e) => return format!("error: {e}\n"),
        };
        let old: BTreeMap<String, Service> = self
            .units
            .iter()
            .map(|(n, u)| (n.clone(), u.spec.clone()))
            .collect();
        let plan = services::service_plan(&old, &new, &|n| self.is_up(n));
        let boot = match services::boot_order(&new) {
            Ok(b) => b,
            Err(e) => return format!("error: {e}\n"),
        };
        // What will wait to start: the plan's, and what is still queued from before.
        let to_start: BTreeSet<String> = plan
            .restart
            .iter()
            .chain(&plan.start)
            .chain(&self.queue)
            .filter(|n| new.contains_key(*n))
            .cloned()
            .collect();
        let queue = match services::start_order(&new, &to_start) {
            Ok(q) => q,
            Err(e) => return format!("error: {e}\n"),
        };
        let mut out = String::from("ok\n");
        let to_stop: Vec<String> = plan.stop.iter().chain(&plan.restart).cloned().collect();
        let started = self.started_order.clone();
        for name in shutdown_order(&started, &|n| to_stop.iter().any(|s| s == n)) {
            self.stop(name);
            if plan.stop.iter().any(|s| s == name) {
                out.push_str(&format!("stopped {name}\n"));
            }
        }
        // Those the new generation does not have, stopped now or not running.
        let gone: Vec<String> = old
            .keys()
            .filter(|n| !new.contains_key(*n))
            .cloned()
            .collect();
        for name in &gone {
            self.units.remove(name);
            self.started_order.retain(|n| n != name);
        }
        self.toplevel = toplevel.to_owned();
        self.host = host;
        for (name, spec) in new {
            if plan.skipped.contains(&name) {
                continue; // keeps running as it was defined
            }
            match self.units.get_mut(&name) {
                Some(u) => u.spec = spec,
                None => {
                    self.units.insert(name, Unit::new(spec));
                }
            }
        }
        self.boot = boot;
        for name in plan.restart.iter().chain(&plan.start) {
            let verb = if plan.restart.contains(name) {
                "restarting"
            } else {
                "starting"
            };
            out.push_str(&format!("{verb} {name}\n"));
            self.started_order.retain(|n| n != name);
            if let Some(u) = self.units.get_mut(name) {
                u.state = State::Stopped;
                u.attempts = 0;
            }
        }
        self.queue = queue;
        for name in &plan.reload {
            match self.reload(name) {
                Ok(()) => out.push_str(&format!("reloaded {name}\n")),
                Err(e) => out.push_str(&format!("failed to reload {name}: {e}\n")),
            }
        }
        for name in &plan.skipped {
            out.push_str(&format!(
                "not restarted {name} (restartIfChanged = false)\n"
            ));
        }
        out
    }

    /// Handles one event; `Some` when it asks for a shutdown.
    fn handle(&mut self, e: Event) -> Option<Shutdown> {
        match e {
            Event::Exited { pid, exit } => self.reaped(pid, exit),
            Event::Output { pid, data, eof } => self.output(pid, &data, eof),
            Event::Notify { pid, message } => self.notified(pid, &message),
            Event::Signal(s) => return Some(s),
            Event::Request { id, line } => return self.request(id, &line),
        }
        None
    }

    /// Stops one service (and takes it off the queue): `ExecStop` or SIGTERM to its process
    /// group, SIGKILL after [`STOP_TIMEOUT`]. An active `RemainAfterExit` service has no
    /// process: its `ExecStop` runs, with the same bounds. Events that arrive meanwhile are
    /// handled (a shutdown asked for is kept for later; requests wait).
    fn stop(&mut self, name: &str) {
        self.queue.retain(|n| n != name);
        let active = matches!(
            self.units.get(name).map(|u| &u.state),
            Some(State::Active { .. })
        );
        if active {
            let exec_stop = self.units[name].spec.service_config.ExecStop.clone();
            if let Some(cmd) = exec_stop {
                if let Some(helper) = self.run_helper(name, "ExecStop", &cmd, None) {
                    let what = format!("ExecStop of {name}");
                    if !self.await_end(name, &what, helper, |s, pid| !s.helpers.contains_key(&pid))
                    {
                        self.helpers.remove(&helper);
                    }
                }
            }
        } else if let Some(pid) = self.running_pid(name) {
            let exec_stop = self.units.get_mut(name).and_then(|u| {
                u.stopping = true;
                u.spec.service_config.ExecStop.clone()
            });
            match exec_stop {
                Some(cmd) => {
                    self.run_helper(name, "ExecStop", &cmd, Some(pid));
                }
                None => self.sys.signal_group(pid, libc::SIGTERM),
            }
            let main_ended = |s: &Self, pid: i32| !s.pids.contains_key(&pid);
            if !self.await_end(name, name, pid, main_ended) {
                self.pids.remove(&pid);
            }
        } else {
            if let Some(u) = self.units.get_mut(name) {
                u.state = State::Stopped;
            }
            return;
        }
        if let Some(u) = self.units.get_mut(name) {
            u.stopping = false;
            u.state = State::Stopped;
        }
        self.say(&format!("stopped {name}"));
    }

    /// Waits until `ended` says the process `pid` (`what`, while stopping `name`) ended:
    /// SIGKILL to its group after [`STOP_TIMEOUT`], given up [`KILL_TIMEOUT`] later (then
    /// `false`). Events that arrive meanwhile are handled; a shutdown asked for is kept for
    /// later and requests are answered busy.
    fn await_end(
        &mut self,
        name: &str,
        what: &str,
        pid: i32,
        ended: impl Fn(&Self, i32) -> bool,
    ) -> bool {
        let mut deadline = self.sys.now() + STOP_TIMEOUT;
        let mut killed = false;
        while !ended(self, pid) {
            let now = self.sys.now();
            if now >= deadline {
                if killed {
                    self.say(&format!("{what} (pid {pid}) does not die; left behind"));
                    return false;
                }
                self.say(&format!("{what} did not stop in time; killing it"));
                self.sys.signal_group(pid, libc::SIGKILL);
                killed = true;
                deadline = now + KILL_TIMEOUT;
                continue;
            }
            for e in self.sys.wait(Some(deadline - now)) {
                match e {
                    Event::Signal(s) => self.pending = Some(s),
                    Event::Request { id, .. } => {
                        self.sys
                            .reply(id, &format!("error: busy stopping {name}; try again\n"));
                    }
                    other => {
                        self.handle(other);
                    }
                }
            }
        }
        true
    }

    /// The main loop; returns when a shutdown is asked for.
    pub fn run(&mut self) -> Shutdown {
        loop {
            if let Some(s) = self.pending.take() {
                return s;
            }
            self.step();
            let timeout = self
                .next_deadline()
                .map(|at| at.saturating_sub(self.sys.now()));
            for e in self.sys.wait(timeout) {
                if let Some(s) = self.handle(e) {
                    self.pending = Some(s);
                }
            }
        }
    }

    /// Stops every service newest first, then signals every process that is left.
    pub fn shut_down(&mut self, how: Shutdown) {
        self.say(match how {
            Shutdown::PowerOff => "powering off",
            Shutdown::Reboot => "rebooting",
        });
        let started = self.started_order.clone();
        let order = shutdown_order(&started, &|n| self.is_up(n));
        for name in order {
            self.stop(name);
        }
        self.sys.signal_all(libc::SIGTERM);
        let end = self.sys.now() + Duration::from_secs(1);
        loop {
            let now = self.sys.now();
            if now >= end {
                break;
            }
            for e in self.sys.wait(Some(end - now)) {
                if let Event::Exited { pid, exit } = e {
                    self.gettys.remove(&pid);
                    self.reaped(pid, exit);
                }
            }
        }
        self.sys.signal_all(libc::SIGKILL);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
