//! `strata deploy -f fleet.nix`: every selected machine of a fleet file
//! ([`strata_builder::fleet`]) built here, one after another (each build uses every core), then
//! copied and switched in parallel (`-j`), each switch with a confirmation window, so a
//! machine the new generation cuts off goes back by itself
//! ([`strata_store::remote::machine`]). Ends with a table: machine, target, generation before
//! and after, result. Exits 1 when any machine did not end on its new generation.

use std::collections::BTreeSet;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde::Serialize;
use strata_activate::profile;
use strata_builder::debian::mirror::debian_mirror;
use strata_builder::fleet::{read_fleet, Deployment, FleetMachine, FleetSource, DEPLOYMENT_MODULE};
use strata_builder::system::StrataSelf;
use strata_store::remote::machine::{Activation, Outcome, Verb};
use strata_store::remote::{self, RemoteError, SshTarget};
use strata_store::{LocalStore, StorePath};

use crate::build_cmd::{build_prepared, BuildInputs};
use crate::copy_cmd::ProgressLine;
use crate::remote_cmd::{remote_store, SETTLE};

/// How long the first question to a machine (what it is on) may take, connection included.
const FIRST_CONTACT: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The fleet file: `{ defaults = ...; machines.<name> = ...; }`.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        default_value = "fleet.nix"
    )]
    pub file: PathBuf,
    /// Take the fleet from a flake's `outputs.deploy` (the same `defaults` and `machines`)
    /// instead of a file.
    #[arg(long, value_name = "REF", conflicts_with = "file")]
    pub flake: Option<String>,
    /// Let the flake's evaluation read the host's files and environment variables.
    #[arg(long, requires = "flake")]
    pub impure: bool,
    /// Only these machines: a name, or @TAG for the machines with that tag (repeatable).
    #[arg(long, value_name = "NAME|@TAG")]
    pub on: Vec<String>,
    /// How many machines are copied to and switched at once.
    #[arg(short = 'j', long = "parallel", value_name = "N", default_value_t = 10)]
    pub parallel: usize,
    /// Print each machine's planned changes; change nothing.
    #[arg(long, conflicts_with = "boot")]
    pub dry_activate: bool,
    /// Make the new generations the boot default without activating them.
    #[arg(long)]
    pub boot: bool,
    /// The confirmation window of each switch: a machine not reachable again within it goes
    /// back to its previous generation by itself.
    #[arg(long, value_name = "TIME", default_value = "60s")]
    pub confirm_within: String,
    /// The lock file pinning the packages [default: strata.lock beside the fleet file, else
    /// strata's own].
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// How many builds run at once [default: the number of CPUs].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Base URL of the Debian archive [env: STRATA_DEBIAN_MIRROR] [default: from the apt
    /// sources].
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// Print the result table as JSON.
    #[arg(long)]
    pub json: bool,
}

/// How a machine's deploy ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Ending {
    Switched,
    BootDefault,
    Planned,
    Reverted,
    Unreachable,
    Failed,
}

impl Ending {
    fn word(&self) -> &'static str {
        match self {
            Ending::Switched => "switched",
            Ending::BootDefault => "boot default",
            Ending::Planned => "planned",
            Ending::Reverted => "reverted",
            Ending::Unreachable => "unreachable",
            Ending::Failed => "failed",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    machine: String,
    target: String,
    old_generation: Option<u32>,
    new_generation: Option<u32>,
    result: Ending,
    reason: String,
}

impl Row {
    fn new(m: &FleetMachine) -> Row {
        Row {
            machine: m.name.clone(),
            target: target_of(&m.deployment)
                .map(|t| t.to_string())
                .unwrap_or_else(|_| "-".to_owned()),
            old_generation: None,
            new_generation: None,
            result: Ending::Failed,
            reason: String::new(),
        }
    }

    fn failed(mut self, reason: String) -> Row {
        self.result = Ending::Failed;
        self.reason = reason;
        self
    }
}

/// The SSH target of a machine's `deployment` values.
fn target_of(d: &Deployment) -> Result<SshTarget> {
    let Some(host) = &d.target_host else {
        bail!("deployment.targetHost is not set");
    };
    let mut url = String::from("ssh://");
    if let Some(u) = &d.target_user {
        url.push_str(u);
        url.push('@');
    }
    if host.contains(':') {
        url.push_str(&format!("[{host}]"));
    } else {
        url.push_str(host);
    }
    if let Some(p) = d.target_port {
        url.push_str(&format!(":{p}"));
    }
    Ok(SshTarget::parse(&url)?)
}

/// The machines `--on` picks (all without it), in the fleet's order; an unknown name or a tag
/// no machine has is an error before anything is built.
fn select<'a>(
    machines: &'a [FleetMachine],
    on: &[String],
    file: &str,
) -> Result<Vec<&'a FleetMachine>> {
    if on.is_empty() {
        return Ok(machines.iter().collect());
    }
    let mut picked = BTreeSet::new();
    for sel in on {
        if let Some(tag) = sel.strip_prefix('@') {
            let tagged: Vec<usize> = (0..machines.len())
                .filter(|&i| machines[i].deployment.tags.iter().any(|t| t == tag))
                .collect();
            if tagged.is_empty() {
                bail!("--on {sel}: no machine of {file} has the tag '{tag}'");
            }
            picked.extend(tagged);
        } else {
            let i = machines
                .iter()
                .position(|m| &m.name == sel)
                .with_context(|| {
                    let names: Vec<&str> = machines.iter().map(|m| m.name.as_str()).collect();
                    format!(
                        "--on {sel}: {file} has no machine named '{sel}' (it has: {})",
                        names.join(", ")
                    )
                })?;
            picked.insert(i);
        }
    }
    Ok(picked.into_iter().map(|i| &machines[i]).collect())
}

pub fn deploy(args: DeployArgs, store_root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    let within = profile::parse_age(&args.confirm_within).ok_or_else(|| {
        anyhow::anyhow!(
            "--confirm-within {}: give a time like 60s, 5m or 1h",
            args.confirm_within
        )
    })?;
    if args.parallel == 0 {
        bail!("-j 0: give at least 1");
    }
    let store = crate::open_store(store_root, store_dir)?;
    let flake = match &args.flake {
        Some(text) => Some(crate::flake_cmd::locked_for_outputs(&store, text)?),
        None => None,
    };
    let (lock, lock_file) = match &flake {
        Some(f) => crate::flake_cmd::flake_lock(args.lock.clone(), f, &store)?,
        None => crate::build_cmd::read_lock(args.lock.clone(), &args.file)?,
    };
    let me = StrataSelf::locate()?;
    let mirror = debian_mirror(
        args.mirror.as_deref(),
        &lock.architecture,
        std::path::Path::new("/"),
    )
    .ok()
    .flatten();
    let source = match &flake {
        Some(flake) => FleetSource::Flake {
            flake,
            impure: args.impure,
        },
        None => FleetSource::File(&args.file),
    };
    let fleet = read_fleet(
        store.root(),
        store.store_dir(),
        source,
        &lock,
        Some(&lock_file),
        &me,
        mirror,
    )?;
    let shown = fleet.shown.clone();
    let chosen = select(&fleet.machines, &args.on, &shown)?;

    // Build each machine here, one after another.
    let _hold = store.gc_hold()?;
    let mut built = Vec::new();
    let mut rows = Vec::new();
    for m in chosen {
        let row = Row::new(m);
        if let Err(e) = target_of(&m.deployment) {
            rows.push(row.failed(format!("{e:#}")));
            continue;
        }
        eprintln!("building {}", m.name);
        let inputs = BuildInputs {
            file: Some(m.configuration.clone()),
            flake: None,
            impure: false,
            overrides: Default::default(),
            lock: Some(lock_file.clone()),
            jobs: args.jobs,
            keep_going: false,
            timeout: None,
            mirror: args.mirror.clone(),
            substitute: Default::default(),
        };
        let profiles = &[DEPLOYMENT_MODULE];
        match build_prepared(inputs, fleet.pure.as_ref(), &store, None, profiles, None) {
            Ok(t) => built.push((m, t, rows.len())),
            Err(e) => {
                eprintln!("[{}] error: {e:#}", m.name);
                rows.push(row.failed(format!("build: {e:#}")));
                continue;
            }
        }
        rows.push(row);
    }

    // Copy and switch, `-j` at a time.
    let verb = if args.dry_activate {
        Verb::DryActivate
    } else if args.boot {
        Verb::Boot
    } else {
        Verb::Switch
    };
    let rows = Mutex::new(rows);
    let queue = Mutex::new(built.into_iter());
    let (root, dir) = (store.root().to_owned(), store.store_dir().clone());
    std::thread::scope(|s| {
        for _ in 0..args.parallel {
            s.spawn(|| loop {
                let next = queue.lock().map(|mut q| q.next()).ok().flatten();
                let Some((m, toplevel, i)) = next else { break };
                // A connection to the store's database for each worker.
                let done = match LocalStore::open(&root, dir.clone()) {
                    Ok(store) => deploy_one(&store, m, &toplevel, verb, within),
                    Err(e) => Done {
                        old_generation: None,
                        new_generation: None,
                        result: Ending::Failed,
                        reason: format!("cannot open the store: {e}"),
                    },
                };
                if let Ok(mut rows) = rows.lock() {
                    let row = &mut rows[i];
                    row.old_generation = done.old_generation;
                    row.new_generation = done.new_generation;
                    row.result = done.result;
                    row.reason = done.reason;
                }
            });
        }
    });
    let rows = rows.into_inner().unwrap_or_default();
    print_table(&rows, args.json)?;
    let wanted = match verb {
        Verb::DryActivate => Ending::Planned,
        Verb::Boot => Ending::BootDefault,
        _ => Ending::Switched,
    };
    let bad = rows.iter().filter(|r| r.result != wanted).count();
    if bad > 0 {
        eprintln!(
            "error: {bad} of {} machines did not end on their new generation",
            rows.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// What became of one machine.
struct Done {
    old_generation: Option<u32>,
    new_generation: Option<u32>,
    result: Ending,
    reason: String,
}

/// Copies `toplevel` to machine `m` and runs `verb` there; every line it prints is prefixed
/// with the machine's name.
fn deploy_one(
    store: &LocalStore,
    m: &FleetMachine,
    toplevel: &StorePath,
    verb: Verb,
    within: Duration,
) -> Done {
    let mut done = Done {
        old_generation: None,
        new_generation: None,
        result: Ending::Failed,
        reason: String::new(),
    };
    let prefix = format!("[{}] ", m.name);
    let say = |line: &str| {
        let _ = writeln!(io::stderr().lock(), "{prefix}{line}");
    };
    let result = (|| -> Result<Outcome, RemoteError> {
        let target = target_of(&m.deployment).map_err(|e| RemoteError::BadTarget {
            target: m.name.clone(),
            problem: format!("{e:#}"),
        })?;
        let sudo = m
            .deployment
            .target_user
            .as_deref()
            .is_some_and(|u| u != "root");
        let machine =
            remote_store(target, store, None, sudo).map_err(|e| RemoteError::BadTarget {
                target: m.name.clone(),
                problem: format!("{e:#}"),
            })?;
        let before = machine.state(None, Some(FIRST_CONTACT))?;
        done.old_generation = before.current.as_ref().map(|g| g.number);
        let mut bar = ProgressLine::new(format!("{prefix}sending"));
        let copied = remote::copy_to(store, &machine, std::slice::from_ref(toplevel), &mut |p| {
            bar.show(p)
        });
        bar.clear();
        let copied = copied?;
        say(&format!(
            "copied {} of the closure's {} paths ({:.1} MiB)",
            copied.sent,
            copied.closure,
            copied.bytes as f64 / 1048576.0
        ));
        let activation = Activation {
            toplevel,
            verb,
            confirm_within: Some(within),
            settle: SETTLE,
        };
        machine.activate(&activation, &mut |l| say(l))
    })();
    match result {
        Err(e @ RemoteError::Unreachable { .. }) => {
            done.result = Ending::Unreachable;
            done.reason = e.to_string();
        }
        Err(e) => {
            done.reason = e.to_string();
        }
        Ok(Outcome::Ran {
            code,
            generation,
            output,
            detail,
        }) => {
            if verb == Verb::DryActivate {
                for l in output.lines() {
                    let _ = writeln!(io::stdout().lock(), "{prefix}{l}");
                }
            }
            done.new_generation = generation;
            if code == 0 {
                done.result = match verb {
                    Verb::DryActivate => Ending::Planned,
                    Verb::Boot => Ending::BootDefault,
                    Verb::Switch | Verb::Test => Ending::Switched,
                };
            } else {
                done.reason = format!("`{}` exited with {code}: {detail}", verb.word());
            }
        }
        Ok(Outcome::Confirmed { generation }) => {
            done.new_generation = generation;
            done.result = Ending::Switched;
        }
        Ok(Outcome::Reverted { generation, detail }) => {
            done.new_generation = generation;
            done.result = Ending::Reverted;
            done.reason = detail;
        }
        Ok(Outcome::Unknown { generation, detail }) => {
            done.new_generation = generation;
            done.reason = detail;
        }
        Ok(Outcome::Unreachable { detail }) => {
            done.result = Ending::Unreachable;
            done.reason = detail;
        }
    }
    if !done.reason.is_empty() {
        say(&format!("{}: {}", done.result.word(), done.reason));
    }
    done
}

fn print_table(rows: &[Row], json: bool) -> Result<()> {
    let mut out = io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(rows)?)?;
        return Ok(());
    }
    let gen = |g: Option<u32>| g.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let wm = rows
        .iter()
        .map(|r| r.machine.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let wt = rows
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(0)
        .max(6);
    writeln!(
        out,
        "{:<wm$}  {:<wt$}  {:>3}  {:>3}  result",
        "machine", "target", "old", "new"
    )?;
    for r in rows {
        let result = if r.reason.is_empty() {
            r.result.word().to_owned()
        } else {
            format!("{}: {}", r.result.word(), r.reason)
        };
        writeln!(
            out,
            "{:<wm$}  {:<wt$}  {:>3}  {:>3}  {result}",
            r.machine,
            r.target,
            gen(r.old_generation),
            gen(r.new_generation)
        )?;
    }
    Ok(())
}
