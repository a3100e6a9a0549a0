//! Another machine's system, reached as its store is ([`RemoteStore`]): its current generation,
//! and the verbs of `strata switch|boot|test|dry-activate` run there on a generation copied
//! to it ([`activate`]).
//!
//! A verb runs with the strata of the generation it activates (`<toplevel>/strata/bin/strata`),
//! as NixOS runs the new generation's `switch-to-configuration`: the program that does the
//! work is the one built with the configuration, whatever version the machine had before.
//!
//! A switch with a confirmation window ([`Activation::confirm_within`]) is confirmed from here,
//! over a new connection opened after the switch: if the machine cannot be reached (its new
//! network or SSH configuration locks us out), nobody confirms, and its watchdog puts the
//! previous generation back at the end of the window. After the window this side keeps trying
//! to reach the machine for [`Activation::settle`] to tell a revert from a machine that is
//! gone.
//!
//! Must not: decide anything on the far side: the verbs there own their checks and their
//! exit codes, which pass through unchanged ([`Outcome::Ran`]).

use std::io::{BufRead as _, BufReader, Read as _};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{RemoteError, RemoteStore};
use crate::StorePath;

/// The exit status of `ssh` itself failing (no connection, no authentication, a lost one).
pub const SSH_FAILED: i32 = 255;
/// How long one attempt to reach a machine after a switch may take, connection included.
const PROBE: Duration = Duration::from_secs(15);
/// The pause between two attempts.
const RETRY: Duration = Duration::from_secs(2);

/// What a finished command there left.
#[derive(Debug, Clone, Default)]
pub struct Ran {
    /// Its exit status (ssh's 255 when the connection failed); `None` when it was killed here
    /// after its time ran out.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    /// What it printed on standard error, one line each.
    pub stderr: Vec<String>,
}

impl Ran {
    /// Its standard error as one line for a message.
    pub fn detail(&self) -> String {
        super::detail(self.stderr.join("\n").as_bytes())
    }

    fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.stdout).ok()
    }
}

/// A generation of the machine's system profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generation {
    pub number: u32,
    pub toplevel: String,
}

/// What a machine is on: the profile's current generation, and the generation that is
/// running, when the running system is one of the profile's (during a switch that waits for
/// its confirmation, it is not).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct MachineState {
    pub current: Option<Generation>,
    pub running: Option<u32>,
}

/// The verbs of `nixos-rebuild`, as a generation's `switch-to-configuration` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Switch,
    Boot,
    Test,
    DryActivate,
}

impl Verb {
    pub fn word(self) -> &'static str {
        match self {
            Verb::Switch => "switch",
            Verb::Boot => "boot",
            Verb::Test => "test",
            Verb::DryActivate => "dry-activate",
        }
    }
}

/// One verb to run on the machine.
#[derive(Debug, Clone)]
pub struct Activation<'a> {
    /// The generation, valid in the machine's store (copied first).
    pub toplevel: &'a StorePath,
    pub verb: Verb,
    /// For [`Verb::Switch`]: the machine reverts by itself unless this side confirms within
    /// this time after the switch.
    pub confirm_within: Option<Duration>,
    /// After an unconfirmed window, how long to keep trying to reach the machine.
    pub settle: Duration,
}

/// How a verb ended on the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// The verb ran to its end there, with this exit status (0: done); `generation` is the
    /// profile generation it made current, if it made one; `output` what it printed.
    Ran {
        code: i32,
        generation: Option<u32>,
        output: String,
        detail: String,
    },
    /// The switch was confirmed from here over a new connection: the machine keeps it.
    Confirmed { generation: Option<u32> },
    /// The machine was not reachable within the window; it answered afterwards, on this
    /// generation, the one before the switch: it reverted by itself.
    Reverted {
        generation: Option<u32>,
        detail: String,
    },
    /// The machine answered after the window, still on the new generation unconfirmed, or on
    /// one that is neither: strata cannot say what happened.
    Unknown {
        generation: Option<u32>,
        detail: String,
    },
    /// The connection broke during the verb, or the machine never answered after the switch.
    Unreachable { detail: String },
}

impl Outcome {
    /// Whether the machine ended where the verb meant it to.
    pub fn succeeded(&self) -> bool {
        matches!(
            self,
            Outcome::Ran { code: 0, .. } | Outcome::Confirmed { .. }
        )
    }
}

impl RemoteStore {
    /// Runs `[sudo -n --] PROGRAM --store-dir DIR ARGS...` there with nothing on its standard
    /// input, handing each line of its standard error to `on_line` as it comes. With
    /// `timeout`, ssh gets that long as its connection timeout and is killed when the whole
    /// command takes longer ([`Ran::code`] is then `None`).
    pub fn run(
        &self,
        program: &str,
        args: &[&str],
        timeout: Option<Duration>,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<Ran, RemoteError> {
        let mut child = match timeout {
            None => self.spawn(program, args)?,
            Some(t) => {
                let mut probe =
                    self.clone_with_option(format!("ConnectTimeout={}", t.as_secs().max(1)));
                probe.sudo = self.sudo;
                probe.spawn(program, args)?
            }
        };
        drop(child.stdin.take());
        let deadline = timeout.map(|t| Instant::now() + t);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::scope(|s| {
            let out = s.spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut o) = stdout {
                    let _ = o.read_to_end(&mut buf);
                }
                buf
            });
            s.spawn(move || {
                let Some(e) = stderr else { return };
                for line in BufReader::new(e).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let mut lines = Vec::new();
            let mut killed = false;
            loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(line) => {
                        on_line(&line);
                        lines.push(line);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                if !killed && deadline.is_some_and(|d| Instant::now() >= d) {
                    // The pipes close when ssh dies, which ends both readers.
                    let _ = child.kill();
                    killed = true;
                }
            }
            let status = child.wait().map_err(|e| self.io("wait for ssh to", e))?;
            let stdout = out.join().unwrap_or_default();
            Ok(Ran {
                code: if killed { None } else { status.code() },
                stdout,
                stderr: lines,
            })
        })
    }

    /// This store's ssh with one more `-o` option (a connection timeout for probes).
    fn clone_with_option(&self, option: String) -> RemoteStore {
        let mut ssh = self.ssh.clone();
        ssh.options.push("-o".to_owned());
        ssh.options.push(option);
        let r = RemoteStore::new(ssh, self.store_dir.clone(), None);
        if let Some(p) = self.program.get() {
            let _ = r.program.set(p.clone());
        }
        r
    }

    /// The machine's current and running generations (`strata generations list --json` there,
    /// with `program`, else the strata that answers).
    pub fn state(
        &self,
        program: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<MachineState, RemoteError> {
        let program = match program {
            Some(p) => p.to_owned(),
            None => self.program()?.to_owned(),
        };
        let args = ["generations", "list", "--json"];
        let ran = self.run(&program, &args, timeout, &mut |_| {})?;
        self.ran_ok(&program, &args, &ran)?;
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&ran.stdout)
            .map_err(|e| self.garbage("generations list --json", e.to_string()))?;
        let mut state = MachineState::default();
        for row in rows {
            let number = row["number"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    self.garbage("generations list --json", "a row without a number".into())
                })?;
            if row["current"].as_bool() == Some(true) {
                let toplevel = row["toplevel"].as_str().unwrap_or_default().to_owned();
                state.current = Some(Generation { number, toplevel });
            }
            if row["active"].as_bool() == Some(true) {
                state.running = Some(number);
            }
        }
        Ok(state)
    }

    /// The error a finished command's exit status means, as [`RemoteStore::strata`] maps it.
    fn ran_ok(&self, program: &str, args: &[&str], ran: &Ran) -> Result<(), RemoteError> {
        match ran.code {
            Some(0) => Ok(()),
            None => Err(RemoteError::Unreachable {
                target: self.ssh.target.to_string(),
                detail: "no answer in time".to_owned(),
            }),
            Some(code) => {
                use std::os::unix::process::ExitStatusExt as _;
                let f = super::Finished {
                    status: std::process::ExitStatus::from_raw(code << 8),
                    stdout: Vec::new(),
                    stderr: ran.stderr.join("\n").into_bytes(),
                };
                self.check(program, args, &f)
            }
        }
    }

    /// Runs `activation` there with the generation's own strata; see the module
    /// documentation. `on_line` gets every line the far side prints on standard error.
    pub fn activate(
        &self,
        activation: &Activation<'_>,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<Outcome, RemoteError> {
        let top = self.store_dir.display(activation.toplevel);
        let program = format!("{top}/strata/bin/strata");
        let within = activation
            .confirm_within
            .filter(|_| activation.verb == Verb::Switch);
        let window = within.map(|w| format!("{}s", w.as_secs().max(1)));
        let mut args = vec![activation.verb.word(), "--toplevel", top.as_str()];
        if activation.verb != Verb::DryActivate {
            args.push("--json");
        }
        if let Some(w) = &window {
            args.extend_from_slice(&["--confirm-within", w.as_str()]);
        }
        let ran = self.run(&program, &args, None, on_line)?;
        let json = ran.json();
        let generation = json
            .as_ref()
            .and_then(|j| j["generation"].as_u64())
            .and_then(|n| u32::try_from(n).ok());
        let pending = json.as_ref().is_some_and(|j| !j["confirmBy"].is_null());
        match (ran.code, within) {
            (Some(SSH_FAILED) | None, None) => Ok(Outcome::Unreachable {
                detail: format!(
                    "the connection broke during `{}`: {}",
                    activation.verb.word(),
                    ran.detail()
                ),
            }),
            // A connection lost during a switch with a window: the switch may have gone
            // through, and then the machine waits for a confirmation like any other.
            (Some(SSH_FAILED) | None, Some(w)) => {
                self.confirm(&program, &top, w, activation.settle, on_line)
            }
            (Some(0), Some(w)) if pending => {
                self.confirm(&program, &top, w, activation.settle, on_line)
            }
            (Some(code), _) => Ok(Outcome::Ran {
                code,
                generation,
                output: String::from_utf8_lossy(&ran.stdout).into_owned(),
                detail: if code == 0 {
                    String::new()
                } else {
                    ran.detail()
                },
            }),
        }
    }

    /// The confirmation of a switch made with a window of `within`: `strata confirm` over new
    /// connections until one answers or the window closes; then, if none did, what the
    /// machine is on once it answers again (within `settle`).
    fn confirm(
        &self,
        program: &str,
        toplevel: &str,
        within: Duration,
        settle: Duration,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<Outcome, RemoteError> {
        let start = Instant::now();
        let window_end = start + within;
        let mut last = String::from("no attempt was made");
        // A little before the machine's own deadline: a confirmation that arrives after its
        // watchdog has acted is refused there anyway.
        let stop = window_end
            .checked_sub(Duration::from_secs(1))
            .unwrap_or(start);
        while Instant::now() < stop {
            let left = stop.saturating_duration_since(Instant::now());
            let ran = self.run(
                program,
                &["confirm", "--json"],
                Some(left.min(PROBE)),
                on_line,
            )?;
            match ran.code {
                Some(0) => {
                    let generation = ran
                        .json()
                        .and_then(|j| j["generation"].as_u64())
                        .and_then(|n| u32::try_from(n).ok());
                    return Ok(Outcome::Confirmed { generation });
                }
                Some(SSH_FAILED) | None => {
                    last = if ran.code.is_none() {
                        "no answer in time".to_owned()
                    } else {
                        ran.detail()
                    };
                    std::thread::sleep(RETRY.min(stop.saturating_duration_since(Instant::now())));
                }
                Some(_) => {
                    // It answered, but there was nothing to confirm: see what it is on.
                    last = ran.detail();
                    break;
                }
            }
        }
        let give_up = window_end.max(Instant::now()) + settle;
        // Wait for the machine's own deadline to pass before asking what it is on.
        std::thread::sleep(window_end.saturating_duration_since(Instant::now()) + RETRY);
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match self.state(Some(program), Some(left.min(PROBE).max(RETRY))) {
                Ok(state) => {
                    let detail = format!("not confirmed: {last}");
                    // Reverted: the running system is the profile's current generation
                    // again. Otherwise it still runs the unconfirmed one (or another).
                    let current = state.current.map(|g| g.number);
                    return Ok(match state.running {
                        Some(n) if Some(n) == current => Outcome::Reverted {
                            generation: Some(n),
                            detail,
                        },
                        running => Outcome::Unknown {
                            generation: running,
                            detail: format!(
                                "{detail}; it runs {toplevel} or another system, unconfirmed"
                            ),
                        },
                    });
                }
                Err(RemoteError::Unreachable { detail, .. }) => {
                    last = detail;
                }
                Err(e) => return Err(e),
            }
            if Instant::now() >= give_up {
                return Ok(Outcome::Unreachable {
                    detail: format!(
                        "not reachable after the switch, through the {} s window and {} s more: \
                         {last}",
                        within.as_secs(),
                        settle.as_secs()
                    ),
                });
            }
            std::thread::sleep(RETRY);
        }
    }
}
