//! The supervisor against a simulated system: processes behave as their script says, on a
//! clock that moves only when the supervisor waits.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use super::*;
use crate::services::tests::service;

const MS: Duration = Duration::from_millis(1);

#[derive(Debug)]
struct Proc {
    exit_at: Option<Duration>,
    exit: Exit,
    ignores_term: bool,
    output: Vec<u8>,
}

#[derive(Debug, Default)]
struct Fake {
    clock: Duration,
    next_pid: i32,
    procs: BTreeMap<i32, Proc>,
    /// (time, pid, what)
    spawned: Vec<(Duration, i32, String)>,
    /// (time, pid or 0 for all, signal)
    signals: Vec<(Duration, i32, i32)>,
    console: Vec<String>,
    logs: Vec<(String, String)>,
    replies: BTreeMap<u64, String>,
    /// Events that happen at a time: requests and signals from outside.
    scripted: Vec<(Duration, Event)>,
    /// Notify messages due: (time, pid).
    notifies: Vec<(Duration, i32)>,
    /// The user and group each process was started as.
    ids: BTreeMap<i32, Option<(u32, u32)>>,
    /// The environment each process was started with.
    envs: BTreeMap<i32, Vec<String>>,
    /// The services of other generations, by toplevel.
    generations: BTreeMap<String, BTreeMap<String, Service>>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            next_pid: 100,
            ..Fake::default()
        }
    }

    fn pid_of(&self, what: &str) -> Vec<i32> {
        self.spawned
            .iter()
            .filter(|s| s.2 == what)
            .map(|s| s.1)
            .collect()
    }

    fn start_times(&self, what: &str) -> Vec<Duration> {
        self.spawned
            .iter()
            .filter(|s| s.2 == what)
            .map(|s| s.0)
            .collect()
    }

    fn said(&self, text: &str) -> bool {
        self.console.iter().any(|l| l.contains(text))
    }

    fn deliver(&mut self, pid: i32, sig: i32) {
        let now = self.clock;
        if let Some(p) = self.procs.get_mut(&pid) {
            match sig {
                libc::SIGKILL => {
                    p.exit_at = Some(now + MS);
                    p.exit = Exit::Signal(libc::SIGKILL);
                }
                libc::SIGTERM if !p.ignores_term => {
                    p.exit_at = Some(now + 10 * MS);
                    p.exit = Exit::Signal(libc::SIGTERM);
                }
                _ => {}
            }
        }
    }
}

impl Supervise for Fake {
    fn spawn(&mut self, s: &Spawn) -> io::Result<i32> {
        let pid = self.next_pid;
        self.next_pid += 1;
        let what = if s.tty.is_some() {
            "getty".to_owned()
        } else {
            s.argv.last().cloned().unwrap_or_default()
        };
        let now = self.clock;
        let mut p = Proc {
            exit_at: None,
            exit: Exit::Code(0),
            ignores_term: false,
            output: Vec::new(),
        };
        // `exit N [words]`: ends after 10 ms with status N.
        if let Some(code) = what.strip_prefix("exit ") {
            p.exit_at = Some(now + 10 * MS);
            p.exit = Exit::Code(code.split_whitespace().next().unwrap().parse().unwrap());
            p.output = format!("attempt at {}ms\npartial", now.as_millis()).into_bytes();
        } else if what == "stubborn" {
            p.ignores_term = true;
        } else if what == "notify" {
            self.notifies.push((now + 50 * MS, pid));
        } else if !s.capture && s.tty.is_none() {
            // A helper (ExecReload, ExecStop): a short command.
            p.exit_at = Some(now + 5 * MS);
        }
        self.procs.insert(pid, p);
        self.ids.insert(pid, s.ids);
        self.envs.insert(pid, s.env.clone());
        self.spawned.push((now, pid, what));
        Ok(pid)
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Vec<Event> {
        let next = self
            .procs
            .values()
            .filter_map(|p| p.exit_at)
            .chain(self.scripted.iter().map(|s| s.0))
            .chain(self.notifies.iter().map(|n| n.0))
            .min();
        let deadline = timeout.map(|t| self.clock + t);
        let at = match (next, deadline) {
            (Some(n), Some(d)) if n > d => {
                self.clock = d;
                return Vec::new();
            }
            (Some(n), _) => n,
            (None, Some(d)) => {
                self.clock = d;
                return Vec::new();
            }
            (None, None) => panic!("the supervisor would wait forever at {:?}", self.clock),
        };
        self.clock = self.clock.max(at);
        let mut events = Vec::new();
        let (due, rest): (Vec<_>, Vec<_>) = self.scripted.drain(..).partition(|s| s.0 <= at);
        self.scripted = rest;
        events.extend(due.into_iter().map(|s| s.1));
        let (due, rest): (Vec<_>, Vec<_>) = self.notifies.drain(..).partition(|n| n.0 <= at);
        self.notifies = rest;
        for (_, pid) in due {
            events.push(Event::Notify {
                pid,
                message: "STATUS=starting\nREADY=1\n".into(),
            });
        }
        let ended: Vec<i32> = self
            .procs
            .iter()
            .filter(|(_, p)| p.exit_at.is_some_and(|t| t <= at))
            .map(|(pid, _)| *pid)
            .collect();
        for pid in ended {
            let p = self.procs.remove(&pid).unwrap();
            if !p.output.is_empty() {
                events.push(Event::Output {
                    pid,
                    data: p.output,
                    eof: true,
                });
            }
            events.push(Event::Exited { pid, exit: p.exit });
        }
        events
    }

    fn reply(&mut self, id: u64, text: &str) {
        self.replies.insert(id, text.to_owned());
    }

    fn signal_group(&mut self, pid: i32, sig: i32) {
        self.signals.push((self.clock, pid, sig));
        self.deliver(pid, sig);
    }

    fn signal_all(&mut self, sig: i32) {
        self.signals.push((self.clock, 0, sig));
        let pids: Vec<i32> = self.procs.keys().copied().collect();
        for pid in pids {
            self.deliver(pid, sig);
        }
    }

    fn now(&mut self) -> Duration {
        self.clock
    }

    fn console(&mut self, line: &str) {
        self.console.push(line.to_owned());
    }

    fn log(&mut self, service: &str, line: &str) {
        self.logs.push((service.to_owned(), line.to_owned()));
    }

    fn user(&mut self, name: &str) -> Option<(u32, u32, String)> {
        match name {
            "root" => Some((0, 0, "/root".into())),
            "alice" => Some((1000, 100, "/home/alice".into())),
            _ => None,
        }
    }

    fn group(&mut self, name: &str) -> Option<u32> {
        (name == "wheel").then_some(1)
    }

    fn exists(&mut self, path: &str) -> bool {
        path.ends_with("/sw/bin/getty")
    }

    fn read_services(
        &mut self,
        toplevel: &str,
    ) -> Result<(String, BTreeMap<String, Service>), ReadServicesError> {
        self.generations
            .get(toplevel)
            .map(|s| ("ocotillo".to_owned(), s.clone()))
            .ok_or_else(|| ReadServicesError::Read {
                path: format!("{toplevel}/activation.json"),
                source: std::io::ErrorKind::NotFound.into(),
            })
    }
}

/// A boot service running `script`.
fn svc(script: &str, after: &[&str]) -> Service {
    let mut s = service("simple");
    s.script = script.into();
    s.wanted_by = vec!["multi-user.target".into()];
    s.after = after.iter().map(|a| a.to_string()).collect();
    s
}

fn supervisor(services: Vec<(&str, Service)>, fake: Fake) -> Supervisor<Fake> {
    let map = services
        .into_iter()
        .map(|(n, s)| (n.to_owned(), s))
        .collect();
    Supervisor::new(
        fake,
        "/nix/store/x-strata-system",
        "saguaro",
        map,
        vec!["ttyS0".into()],
    )
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn boot_order_readiness_restarts_and_shutdown() {
    let mut oneshot = svc("exit 0", &[]);
    oneshot.service_config.Type = "oneshot".into();
    let mut crash = svc("exit 3", &[]);
    crash.service_config.Restart = "on-failure".into();
    crash.service_config.RestartSec = "1".into();
    let mut notify = svc("notify", &[]);
    notify.service_config.Type = "notify".into();
    let mut fake = Fake::new();
    fake.scripted.push((
        Duration::from_secs(10),
        Event::Request {
            id: 7,
            line: "poweroff".into(),
        },
    ));
    let mut sup = supervisor(
        vec![
            ("a", oneshot),
            ("b", svc("forever", &["a.service"])),
            ("crash", crash),
            ("n", notify),
            ("c", svc("forever", &["n"])),
        ],
        fake,
    );
    assert_eq!(sup.run(), Shutdown::PowerOff);
    let f = &sup.sys;
    assert_eq!(f.replies[&7], "ok\n");
    // b waits for the oneshot a to finish; c for n's READY=1.
    assert_eq!(f.start_times("exit 0"), [ms(0)]);
    assert_eq!(f.start_times("notify"), [ms(0)]);
    let forever = f.start_times("forever");
    assert_eq!(
        forever,
        [ms(10), ms(50)],
        "b after a ended, c after n was ready"
    );
    assert!(f.said("strata: service n is ready"));
    // The crashing service comes back after 1, 2, 4 and 8 seconds.
    assert_eq!(
        f.start_times("exit 3"),
        [ms(0), ms(1010), ms(3020), ms(7030)]
    );
    for (n, d) in [(1, "1.0"), (2, "2.0"), (3, "4.0"), (4, "8.0")] {
        let line = format!("service crash exited with status 3; restarting in {d} s (restart {n})");
        assert!(f.said(&line), "{line}\n{:#?}", f.console);
    }
    // Its output reached the console and its log, the unfinished last line too.
    assert!(f.said("[crash] attempt at 0ms"));
    assert!(f.logs.contains(&("crash".into(), "partial".into())));
    // Ready once every boot service was: then the login prompt.
    let ready = f
        .console
        .iter()
        .position(|l| l == "strata: saguaro is up (5 services started)")
        .expect("ready marker");
    assert!(f.console[..ready].iter().any(|l| l.contains("started c")));
    assert_eq!(f.start_times("getty"), [ms(50)]);

    // Shutdown: the running services newest first, then everything.
    let (b, c, n) = (
        f.pid_of("forever")[0],
        f.pid_of("forever")[1],
        f.pid_of("notify")[0],
    );
    sup.shut_down(Shutdown::PowerOff);
    let f = &sup.sys;
    let terms: Vec<i32> = f
        .signals
        .iter()
        .filter(|s| s.2 == libc::SIGTERM)
        .map(|s| s.1)
        .collect();
    assert_eq!(
        terms,
        [c, b, n, 0],
        "c, b, n (reverse start order), then all"
    );
    assert!(f.signals.iter().any(|s| s.1 == 0 && s.2 == libc::SIGKILL));
    assert!(f.said("strata: powering off"));
    assert!(f.said("strata: stopped c"));
}

#[test]
fn a_service_that_ignores_sigterm_is_killed_after_the_timeout() {
    let mut sup = supervisor(vec![("stuck", svc("stubborn", &[]))], Fake::new());
    sup.sys
        .scripted
        .push((Duration::from_secs(1), Event::Signal(Shutdown::Reboot)));
    assert_eq!(sup.run(), Shutdown::Reboot);
    let pid = sup.sys.pid_of("stubborn")[0];
    sup.shut_down(Shutdown::Reboot);
    let f = &sup.sys;
    let mine: Vec<(Duration, i32)> = f
        .signals
        .iter()
        .filter(|s| s.1 == pid)
        .map(|s| (s.0, s.2))
        .collect();
    assert_eq!(
        mine,
        [
            (Duration::from_secs(1), libc::SIGTERM),
            (Duration::from_secs(11), libc::SIGKILL)
        ],
        "SIGKILL after STOP_TIMEOUT"
    );
    assert!(f.said("stuck did not stop in time; killing it"));
    assert!(f.said("strata: rebooting"));
}

#[test]
fn control_requests() {
    let mut always = svc("forever", &[]);
    always.service_config.Restart = "always".into();
    always.service_config.ExecReload = Some("kill -HUP $MAINPID".into());
    let mut hup = svc("forever", &[]);
    hup.wanted_by.clear(); // not started at boot
    let mut fake = Fake::new();
    let t = Duration::from_secs;
    for (at, id, line) in [
        (1, 1, "status"),
        (2, 2, "restart web"),
        (3, 3, "reload web"),
        (4, 4, "start other"),
        (5, 5, "reload other"),
        (6, 6, "stop web"),
        (8, 8, "start nosuch"),
        (9, 9, "frobnicate"),
        (10, 10, "reboot"),
    ] {
        fake.scripted.push((
            t(at),
            Event::Request {
                id,
                line: line.into(),
            },
        ));
    }
    let mut sup = supervisor(vec![("web", always), ("other", hup)], fake);
    assert_eq!(sup.run(), Shutdown::Reboot);
    let f = &sup.sys;
    assert_eq!(
        f.replies[&1],
        "ok\nother\tstopped\nweb\trunning (pid 100)\n"
    );
    let web = f.pid_of("forever");
    // restart: SIGTERM to the old process, then a new one.
    assert!(f.signals.contains(&(t(2), web[0], libc::SIGTERM)));
    assert_eq!(f.replies[&2], "ok\n");
    // reload with ExecReload runs it; without, SIGHUP.
    assert!(f.spawned.iter().any(|s| s.2 == "kill -HUP $MAINPID"));
    assert!(f.signals.iter().any(|s| s.2 == libc::SIGHUP));
    // stop: not restarted although Restart=always.
    assert_eq!(f.replies[&6], "ok\n");
    let web_starts = f
        .spawned
        .iter()
        .filter(|s| s.2 == "forever" && s.0 <= t(10))
        .count();
    assert_eq!(web_starts, 3, "web twice (boot, restart) and other once");
    assert!(f.replies[&8].starts_with("error: no service nosuch"));
    assert!(f.replies[&9].starts_with("error: unknown request"));
    assert_eq!(f.replies[&10], "ok\n");
}

#[test]
fn users_and_groups_of_services() {
    let mut a = svc("forever", &[]);
    a.service_config.User = "alice".into();
    a.service_config.Group = Some("wheel".into());
    let mut ghost = svc("forever", &[]);
    ghost.service_config.User = "ghost".into();
    let mut fake = Fake::new();
    fake.scripted
        .push((Duration::from_secs(1), Event::Signal(Shutdown::PowerOff)));
    let mut sup = supervisor(vec![("a", a), ("ghost", ghost)], fake);
    sup.run();
    assert!(sup
        .sys
        .said("service ghost failed: its user ghost does not exist"));
    let a = sup.sys.pid_of("forever")[0];
    assert_eq!(sup.sys.ids[&a], Some((1000, 1)), "alice, group wheel");
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
        ("oneshot", State::Active { since: MS }, false, true),
    ];
    for (kind, state, notified, want) in cases {
        let desc = format!("{kind} {state:?} notified={notified}");
        let mut u = Unit::new(service(kind));
        u.state = state;
        u.notified = notified;
        assert_eq!(is_ready(&u), want, "{desc}");
    }
}

#[test]
fn a_switch_applies_the_service_plan() {
    let mut sticky_new = svc("forever sticky v2", &[]);
    sticky_new.restart_if_changed = false;
    let mut trig_new = svc("forever trig", &[]);
    trig_new.reload_triggers = vec!["new-config".into()];
    let gen1 = vec![
        ("keep", svc("forever keep", &[])),
        ("change", svc("forever change v1", &[])),
        ("gone", svc("forever gone", &[])),
        ("sticky", svc("forever sticky v1", &[])),
        ("trig", svc("forever trig", &[])),
    ];
    let gen2: BTreeMap<String, Service> = [
        ("keep", svc("forever keep", &[])),
        ("change", svc("forever change v2", &[])),
        ("sticky", sticky_new),
        ("trig", trig_new),
        ("fresh", svc("forever fresh", &["keep"])),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_owned(), s))
    .collect();
    let mut fake = Fake::new();
    fake.generations.insert("/gen2".into(), gen2);
    let t = Duration::from_secs;
    for (at, id, line) in [
        (1, 1, "apply /gen2"),
        (2, 2, "apply /nonesuch"),
        (3, 3, "poweroff"),
    ] {
        fake.scripted.push((
            t(at),
            Event::Request {
                id,
                line: line.into(),
            },
        ));
    }
    let mut sup = supervisor(gen1, fake);
    assert_eq!(sup.run(), Shutdown::PowerOff);
    let f = &sup.sys;
    assert_eq!(
        f.replies[&1],
        "ok\nstopped gone\nrestarting change\nstarting fresh\nreloaded trig\n\
         not restarted sticky (restartIfChanged = false)\n"
    );
    assert!(
        f.replies[&2].starts_with("error: cannot read /nonesuch"),
        "{}",
        f.replies[&2]
    );
    let pid = |w: &str| f.pid_of(w)[0];
    let signalled = |p: i32, sig: i32| f.signals.iter().any(|s| s.1 == p && s.2 == sig);
    assert!(signalled(pid("forever gone"), libc::SIGTERM));
    assert!(signalled(pid("forever change v1"), libc::SIGTERM));
    assert!(signalled(pid("forever trig"), libc::SIGHUP));
    assert!(
        !signalled(pid("forever keep"), libc::SIGTERM),
        "unchanged: left alone"
    );
    assert!(
        !signalled(pid("forever sticky v1"), libc::SIGTERM),
        "restartIfChanged = false"
    );
    // The new definitions run after the old ones stopped.
    let v2 = f.start_times("forever change v2");
    assert_eq!(v2.len(), 1);
    assert!(v2[0] > t(1));
    assert_eq!(f.start_times("forever fresh").len(), 1);
    assert!(f.start_times("forever sticky v2").is_empty());
    assert!(f.pid_of("forever gone").len() == 1, "not started again");
}

/// A oneshot boot service running `script`, with `RemainAfterExit` and `ExecStop` as given.
fn oneshot(script: &str, remain: bool, exec_stop: Option<&str>) -> Service {
    let mut s = svc(script, &[]);
    s.service_config.Type = "oneshot".into();
    s.service_config.RemainAfterExit = remain;
    s.service_config.ExecStop = exec_stop.map(str::to_owned);
    s
}

/// Control requests arriving at the given times: (seconds, id, line).
fn requests(fake: &mut Fake, list: &[(u64, u64, &str)]) {
    for (at, id, line) in list {
        fake.scripted.push((
            Duration::from_secs(*at),
            Event::Request {
                id: *id,
                line: (*line).into(),
            },
        ));
    }
}

fn generation(list: Vec<(&str, Service)>) -> BTreeMap<String, Service> {
    list.into_iter().map(|(n, s)| (n.to_owned(), s)).collect()
}

#[test]
fn remain_after_exit_keeps_a_finished_oneshot_active() {
    let mut slow = oneshot("exit 0 slow", true, Some("stubborn"));
    slow.service_config.ExecReload = Some("reload slow".into());
    let mut fake = Fake::new();
    requests(
        &mut fake,
        &[
            (1, 1, "status"),
            (2, 2, "start net"),
            (3, 3, "reload net"),
            (4, 4, "reload slow"),
            (5, 5, "stop net"),
            (6, 6, "status"),
            (7, 7, "stop slow"),
            (8, 8, "status"),
            (20, 9, "restart plain"),
            (21, 10, "start net"),
            (22, 11, "poweroff"),
        ],
    );
    let mut sup = supervisor(
        vec![
            ("net", oneshot("exit 0 net", true, Some("undo net"))),
            ("bad", oneshot("exit 1 bad", true, Some("undo bad"))),
            ("plain", oneshot("exit 0 plain", false, Some("undo plain"))),
            ("slow", slow),
        ],
        fake,
    );
    assert_eq!(sup.run(), Shutdown::PowerOff);
    let f = &sup.sys;
    let t = Duration::from_secs;
    // Only a successful oneshot with RemainAfterExit stays active; it counts as running.
    assert_eq!(
        f.replies[&1],
        "ok\nbad\texited: exited with status 1\nnet\tactive (exited)\n\
         plain\texited: exited with status 0\nslow\tactive (exited)\n"
    );
    assert_eq!(
        strata_activate::control::running_in_status(&f.replies[&1]),
        ["net", "slow"]
    );
    assert!(f.said("strata: service net finished; it stays active (RemainAfterExit)"));
    // `start` of an active service does nothing; after a stop it runs again.
    assert_eq!(f.start_times("exit 0 net"), [ms(0), t(21)]);
    // Reload: an error without ExecReload (no process to signal), else ExecReload without
    // MAINPID.
    assert_eq!(
        f.replies[&3],
        "error: service net is active without a process and has no ExecReload\n"
    );
    assert_eq!(f.replies[&4], "ok\n");
    let no_main_pid = |pid: i32| !f.envs[&pid].iter().any(|e| e.starts_with("MAINPID="));
    let reload = f.pid_of("reload slow");
    assert_eq!(reload.len(), 1);
    assert!(no_main_pid(reload[0]));
    // Stop runs ExecStop (no process to signal) and waits for it.
    assert_eq!(f.start_times("undo net")[0], t(5));
    assert!(no_main_pid(f.pid_of("undo net")[0]));
    assert_eq!(f.replies[&5], "ok\n");
    assert!(
        f.replies[&6].contains("net\tstopped\n"),
        "{}",
        f.replies[&6]
    );
    // An ExecStop that does not end is killed after STOP_TIMEOUT; requests meanwhile wait.
    let helper = f.pid_of("stubborn")[0];
    let to_helper: Vec<(Duration, i32)> = f
        .signals
        .iter()
        .filter(|s| s.1 == helper)
        .map(|s| (s.0, s.2))
        .collect();
    assert_eq!(to_helper, [(t(17), libc::SIGKILL)]);
    assert!(f.said("ExecStop of slow did not stop in time; killing it"));
    assert!(f.replies[&8].starts_with("error: busy stopping slow"));
    assert!(f.said("strata: stopped slow"));
    // A failed or finished (not remaining) oneshot is not stopped: no ExecStop.
    assert!(f.pid_of("undo bad").is_empty() && f.pid_of("undo plain").is_empty());
    assert_eq!(f.start_times("exit 0 plain"), [ms(0), t(20)]);

    // The shutdown stops the active one: its ExecStop again.
    sup.shut_down(Shutdown::PowerOff);
    assert_eq!(sup.sys.pid_of("undo net").len(), 2);
    assert!(sup.sys.pid_of("undo plain").is_empty());
}

#[test]
fn a_switch_leaves_unchanged_active_oneshots_and_restarts_changed_ones() {
    let gen2 = generation(vec![
        ("same", oneshot("exit 0 same", true, Some("undo same"))),
        (
            "changed",
            oneshot("exit 0 changed v2", true, Some("undo changed v2")),
        ),
        ("plain", oneshot("exit 0 plain", false, None)),
    ]);
    let mut fake = Fake::new();
    fake.generations.insert("/gen2".into(), gen2);
    requests(
        &mut fake,
        &[(1, 1, "apply /gen2"), (2, 2, "status"), (3, 3, "poweroff")],
    );
    let mut sup = supervisor(
        vec![
            ("same", oneshot("exit 0 same", true, Some("undo same"))),
            (
                "changed",
                oneshot("exit 0 changed v1", true, Some("undo changed v1")),
            ),
            ("gone", oneshot("exit 0 gone", true, Some("undo gone"))),
            ("plain", oneshot("exit 0 plain", false, None)),
        ],
        fake,
    );
    assert_eq!(sup.run(), Shutdown::PowerOff);
    let f = &sup.sys;
    let t = Duration::from_secs;
    assert_eq!(
        f.replies[&1],
        "ok\nstopped gone\nrestarting changed\nstarting plain\n"
    );
    // Unchanged and active: not run again, not stopped.
    assert_eq!(f.start_times("exit 0 same"), [ms(0)]);
    assert!(f.pid_of("undo same").is_empty());
    // Removed: its ExecStop ran.
    assert_eq!(f.start_times("undo gone"), [t(1)]);
    // Changed: the old ExecStop, then the new definition once it finished.
    let undo = f.start_times("undo changed v1");
    assert_eq!(undo.len(), 1);
    let v2 = f.start_times("exit 0 changed v2");
    assert_eq!(v2.len(), 1);
    assert!(v2[0] >= undo[0] + 5 * MS, "{v2:?} {undo:?}");
    assert!(f.pid_of("undo changed v2").is_empty());
    // Without RemainAfterExit a finished oneshot is run again, as before.
    assert_eq!(f.start_times("exit 0 plain").len(), 2);
    assert_eq!(
        f.replies[&2],
        "ok\nchanged\tactive (exited)\nplain\texited: exited with status 0\n\
         same\tactive (exited)\n"
    );
}

#[test]
fn reload_if_changed_reloads_with_the_new_exec_reload() {
    let with_reload = |script: &str, reload: &str| {
        let mut s = svc(script, &[]);
        s.service_config.ExecReload = Some(reload.into());
        s
    };
    let mut web = with_reload("forever web", "reload web v2");
    web.environment.insert("V".into(), "2".into());
    web.reload_if_changed = true;
    let mut sticky = with_reload("forever sticky", "reload sticky v2");
    sticky.reload_if_changed = true;
    sticky.restart_if_changed = false;
    let mut net = oneshot("exit 0 net v2", true, None);
    net.reload_if_changed = true;
    let mut fake = Fake::new();
    fake.generations.insert(
        "/gen2".into(),
        generation(vec![("web", web), ("sticky", sticky), ("net", net)]),
    );
    requests(&mut fake, &[(1, 1, "apply /gen2"), (2, 2, "poweroff")]);
    let mut sup = supervisor(
        vec![
            ("web", with_reload("forever web", "reload web v1")),
            ("sticky", with_reload("forever sticky", "reload sticky v1")),
            ("net", oneshot("exit 0 net v1", true, None)),
        ],
        fake,
    );
    assert_eq!(sup.run(), Shutdown::PowerOff);
    let f = &sup.sys;
    assert_eq!(
        f.replies[&1],
        "ok\nfailed to reload net: service net is active without a process and has no \
         ExecReload\nreloaded sticky\nreloaded web\n"
    );
    let web_pid = f.pid_of("forever web")[0];
    let reload = f.pid_of("reload web v2");
    assert_eq!(reload.len(), 1, "the new definition's ExecReload");
    assert!(f.envs[&reload[0]].contains(&format!("MAINPID={web_pid}")));
    assert!(f.pid_of("reload web v1").is_empty());
    assert_eq!(f.pid_of("reload sticky v2").len(), 1, "reload wins");
    assert!(!f.signals.iter().any(|s| s.1 == web_pid), "not restarted");
    assert_eq!(f.pid_of("forever web").len(), 1);
    assert!(f.pid_of("exit 0 net v2").is_empty(), "not restarted either");
    assert_eq!(sup.units["web"].spec.environment["V"], "2");
}

#[test]
fn targets_order_and_pull_in_services_at_boot() {
    let mut net = oneshot("exit 0 net", false, None);
    net.wanted_by = vec!["network-online.target".into()];
    let mut web = svc("forever web", &["network-online.target"]);
    web.wants = vec!["network-online.target".into()];
    let mut lonely = svc("forever lonely", &[]);
    lonely.wanted_by = vec!["vpn.target".into()];
    let mut needy = svc("forever needy", &[]);
    needy.requires = vec!["nobody.target".into()];
    let mut fake = Fake::new();
    fake.scripted
        .push((Duration::from_secs(1), Event::Signal(Shutdown::PowerOff)));
    let mut sup = supervisor(
        vec![
            ("net", net),
            ("web", web),
            (
                "early",
                svc("forever early", &["network.target", "multi-user.target"]),
            ),
            ("lonely", lonely),
            ("needy", needy),
        ],
        fake,
    );
    sup.run();
    let f = &sup.sys;
    // net is wanted by network-online.target only, and started because web wants it.
    assert_eq!(f.start_times("exit 0 net"), [ms(0)]);
    assert_eq!(
        f.start_times("forever web"),
        [ms(10)],
        "after the oneshot of network-online.target finished"
    );
    assert_eq!(
        f.start_times("forever early"),
        [ms(0)],
        "nothing is wanted by network.target; multi-user.target orders nothing"
    );
    assert!(
        f.start_times("forever lonely").is_empty(),
        "nobody wants vpn.target"
    );
    assert_eq!(
        f.start_times("forever needy"),
        [ms(0)],
        "a target always exists"
    );
    assert!(f.said("saguaro is up (4 services started)"));
}

#[test]
fn a_switch_orders_what_it_starts_by_targets() {
    let web = |script: &str| {
        let mut s = svc(script, &["network-online.target"]);
        s.wants = vec!["network-online.target".into()];
        s
    };
    let mut dhcp = oneshot("exit 0 dhcp", true, None);
    dhcp.wanted_by = vec!["network-online.target".into()];
    let mut looped = dhcp.clone();
    looped.after = vec!["web.service".into()];
    let mut fake = Fake::new();
    fake.generations.insert(
        "/gen2".into(),
        generation(vec![("web", web("forever web v2")), ("dhcp", dhcp)]),
    );
    fake.generations.insert(
        "/gen3".into(),
        generation(vec![("web", web("forever web v3")), ("dhcp", looped)]),
    );
    requests(
        &mut fake,
        &[
            (1, 1, "apply /gen2"),
            (2, 2, "apply /gen3"),
            (3, 3, "poweroff"),
        ],
    );
    let mut sup = supervisor(vec![("web", web("forever web v1"))], fake);
    assert_eq!(sup.run(), Shutdown::PowerOff);
    let f = &sup.sys;
    let t = Duration::from_secs;
    assert_eq!(f.replies[&1], "ok\nrestarting web\nstarting dhcp\n");
    // web v1 takes 10 ms to stop; then dhcp runs (10 ms), and only then web v2.
    assert_eq!(f.start_times("exit 0 dhcp"), [t(1) + 10 * MS]);
    assert_eq!(f.start_times("forever web v2"), [t(1) + 20 * MS]);
    // A cycle through a target is refused before anything changes.
    assert_eq!(
        f.replies[&2],
        "error: the services dhcp, web order each other in a cycle (through `after` and \
         network-online.target)\n"
    );
    assert!(f.start_times("forever web v3").is_empty());
    let v2 = f.pid_of("forever web v2")[0];
    assert!(!f.signals.iter().any(|s| s.1 == v2 && s.0 < t(3)));
}

#[test]
fn settled_says_whether_what_a_switch_started_is_ready() {
    let mut web = svc("notify", &[]);
    web.service_config.Type = "notify".into();
    let mut fake = Fake::new();
    fake.generations
        .insert("/gen2".into(), generation(vec![("web", web)]));
    requests(
        &mut fake,
        &[
            (1, 1, "apply /gen2"),
            (1, 2, "settled"),
            (2, 3, "settled"),
            (3, 4, "poweroff"),
        ],
    );
    let mut sup = supervisor(vec![], fake);
    assert_eq!(sup.run(), Shutdown::PowerOff);
    let f = &sup.sys;
    assert_eq!(f.replies[&1], "ok\nstarting web\n");
    // Right after the switch, web waits to start or to say it is ready; a second later it is.
    assert_eq!(f.replies[&2], "no\n");
    assert_eq!(f.replies[&3], "yes\n");
}
