//! The service supervisor of stage 2: its logic, over the [`Supervise`] trait, so that it runs
//! against the kernel ([`crate::stage2::RealSupervise`]) and against a simulated one in the
//! tests (processes that exit, ignore signals or run forever on a simulated clock).
//!
//! The services of the manifest start in boot order ([`services::boot_order`]), each once the
//! services it is ordered `after` are ready ([`is_ready`]); one that ends is restarted by its
//! `Restart=` policy after a delay that doubles ([`services::restart_delay`]); its output goes
//! to the console and to its log, line by line; a login prompt runs on each console once the
//! boot services are up, and comes back when it ends. Control requests (one line each,
//! answered `ok` or `error: ...`): `status`, `start NAME`, `stop NAME`, `restart NAME`,
//! `reload NAME`, `apply TOPLEVEL` (move the services to another generation after its
//! activation: [`services::service_plan`]), `poweroff`, `reboot`. A shutdown stops the services newest first, each with
//! a bounded wait ([`STOP_TIMEOUT`], then SIGKILL), then signals every process.
//!
//! `Type=` as far as it applies without systemd: `simple` and `exec` count as started once
//! running, `oneshot` once finished, `notify` once it sent `READY=1` to `NOTIFY_SOCKET`,
//! `forking` once its start process ended (the daemon it leaves is not tracked).

use std::collections::BTreeMap;
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
/// `forking` once their start process ended; one that ended or failed counts too.
pub(crate) fn is_ready(u: &Unit) -> bool {
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

/// The supervisor.
#[derive(Debug)]
pub struct Supervisor<S: Supervise> {
    pub sys: S,
    toplevel: String,
    host: String,
    pub(crate) units: BTreeMap<String, Unit>,
    boot: Vec<String>,
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

    /// Runs `command` (`ExecReload`, `ExecStop`) with `MAINPID` set.
    fn run_helper(&mut self, name: &str, what: &'static str, command: &str, main_pid: i32) {
        let plan = Spawn {
            program: self.sh(),
            argv: vec!["sh".into(), "-c".into(), command.into()],
            env: vec![
                format!("PATH={0}/sw/bin:{0}/sw/sbin", self.toplevel),
                format!("MAINPID={main_pid}"),
            ],
            dir: None,
            ids: None,
            capture: false,
            notify: None,
            tty: None,
        };
        match self.sys.spawn(&plan) {
            Ok(pid) => {
                self.helpers.insert(pid, (name.to_owned(), what));
            }
            Err(e) => self.say(&format!("cannot run {what} of {name}: {e}")),
        }
    }

    fn reload(&mut self, name: &str) -> Result<(), ReloadError> {
        let u = self
            .units
            .get(name)
            .ok_or_else(|| ReloadError::NoService(name.to_owned()))?;
        let State::Running { pid, .. } = u.state else {
            return Err(ReloadError::NotRunning(name.to_owned()));
        };
        match u.spec.service_config.ExecReload.clone() {
            Some(cmd) => self.run_helper(name, "ExecReload", &cmd, pid),
            None => self.sys.signal_group(pid, libc::SIGHUP),
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

    /// Starts what is due: restarts whose time came, and boot services whose `after` are
    /// ready; says when the boot services are all up and starts the login prompts.
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
            // Only a first start: a boot service stopped on request stays stopped.
            if !matches!(self.units[name].state, State::Stopped)
                || self.started_order.iter().any(|n| n == name)
            {
                continue;
            }
            let spec = self.units[name].spec.clone();
            let waiting = spec
                .after
                .iter()
                .filter_map(|a| services::service_name(a))
                .filter(|a| boot.iter().any(|b| b == a))
                .any(|a| !is_ready(&self.units[a]));
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
                State::WaitingRestart { .. } => "waiting to restart".to_owned(),
                State::Failed(w) => format!("failed: {w}"),
            };
            s.push_str(&format!("{n}\t{st}\n"));
        }
        s
    }

    /// Answers a control request; `Some` when it asks for a shutdown.
    fn request(&mut self, id: u64, line: &str) -> Option<Shutdown> {
        let mut words = line.split_whitespace();
        let (reply, shutdown) = match (words.next(), words.next(), words.next()) {
            (Some("status"), None, None) => (self.status(), None),
            (Some("poweroff"), None, None) => ("ok\n".to_owned(), Some(Shutdown::PowerOff)),
            (Some("reboot"), None, None) => ("ok\n".to_owned(), Some(Shutdown::Reboot)),
            (Some("apply"), Some(toplevel), None) => (self.apply(toplevel), None),
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
            _ => (format!("error: unknown request {:?}\n", line.trim()), None),
        };
        self.sys.reply(id, &reply);
        shutdown
    }

    /// Moves the services to the generation `toplevel` (after its activation): stops those it
    /// no longer has and those that changed, takes the new definitions, starts the changed and
    /// the new ones (in boot order, through [`step`](Self::step)), reloads those whose
    /// `reloadTriggers` changed, and leaves those with `restartIfChanged = false` running.
    /// The answer lists what was done, one line each.
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
        let running: Vec<String> = self
            .units
            .keys()
            .filter(|n| self.running_pid(n).is_some())
            .cloned()
            .collect();
        let plan = services::service_plan(&old, &new, &|n| running.iter().any(|r| r == n));
        let boot = match services::boot_order(&new) {
            Ok(b) => b,
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
        for name in &plan.stop {
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
            if !self.boot.contains(name) {
                self.start(name);
            }
        }
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

    /// Stops one service: `ExecStop` or SIGTERM to its process group, SIGKILL after
    /// [`STOP_TIMEOUT`]; events that arrive meanwhile are handled (a shutdown asked for is
    /// kept for later; requests wait).
    fn stop(&mut self, name: &str) {
        let Some(pid) = self.running_pid(name) else {
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
            None => self.sys.signal_group(pid, libc::SIGTERM),
        }
        let mut deadline = self.sys.now() + STOP_TIMEOUT;
        let mut killed = false;
        while self.running_pid(name) == Some(pid) {
            let now = self.sys.now();
            if now >= deadline {
                if killed {
                    self.say(&format!("{name} (pid {pid}) does not die; left behind"));
                    self.pids.remove(&pid);
                    break;
                }
                self.say(&format!("{name} did not stop in time; killing it"));
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
        if let Some(u) = self.units.get_mut(name) {
            u.stopping = false;
            u.state = State::Stopped;
        }
        self.say(&format!("stopped {name}"));
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
        let order = shutdown_order(&started, &|n| {
            matches!(self.units[n].state, State::Running { .. })
        });
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
