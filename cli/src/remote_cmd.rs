//! `strata switch|boot|test|dry-activate --target-host [user@]host`: build here, copy the
//! closure there ([`strata_store::remote::copy_to`]), run the verb there with the generation's
//! own strata ([`RemoteStore::activate`]), and `--confirm-within` confirmed from here over a new
//! connection. Also the pieces `strata deploy` shares: the remote store of a target, the
//! progress line of a copy, the exit code of an outcome.
//!
//! Exit codes: the verb's own (0, 1, 3, 4, 5: see `switch_cmd`), and 6 when the machine did not
//! end on the new generation for want of a connection: it was unreachable after the switch (and
//! went back, or will, by itself), or the connection broke during the verb.

use std::io::{self, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use strata_builder::system::ElsewhereError;
use strata_store::remote::machine::{Activation, Outcome, Verb};
use strata_store::remote::{self, RemoteStore, Ssh, SshTarget};

use crate::copy_cmd::ProgressLine;
use strata_store::{LocalStore, StorePath};

/// The exit code of a machine that did not end on the new generation for want of a
/// connection.
pub const EXIT_UNCONFIRMED: u8 = 6;
/// How long, after an unconfirmed window, strata keeps trying to reach a machine to learn
/// whether it went back.
pub const SETTLE: Duration = Duration::from_secs(120);

/// Where the verbs run when not here.
#[derive(Debug, Args, Default)]
pub struct RemoteArgs {
    /// Copy the generation to this machine and run the verb there: [user@]host[:port] or
    /// ssh://... (ssh's options from $STRATA_SSHOPTS, else $NIX_SSHOPTS).
    #[arg(long, value_name = "HOST")]
    pub target_host: Option<String>,
    /// Run the verb there through `sudo` (for a --target-host user who is not root).
    #[arg(long, requires = "target_host")]
    pub use_remote_sudo: bool,
    /// strata's path on the target and the build host, for copies and builds [default:
    /// `strata` on its PATH, then /run/current-system/strata/bin/strata]; the verb runs with
    /// the generation's own.
    #[arg(long, value_name = "PATH")]
    pub remote_program: Option<String>,
    /// Build there instead of here: the derivations are copied there, built with its strata,
    /// and their outputs copied back ([user@]host[:port] or ssh://...).
    #[arg(long, value_name = "HOST", conflicts_with = "toplevel")]
    pub build_host: Option<String>,
}

/// A machine that builds for this one (`--build-host`): see
/// [`strata_builder::system::SystemInputs::build_elsewhere`].
pub struct BuildHost {
    remote: RemoteStore,
    root: std::path::PathBuf,
    dir: strata_store::StoreDir,
}

impl BuildHost {
    /// The build host `host` for the store `local`.
    pub fn new(host: &str, local: &LocalStore, program: Option<String>) -> Result<BuildHost> {
        let target = SshTarget::parse(host)?;
        Ok(BuildHost {
            remote: remote_store(target, local, program, false)?,
            root: local.root().to_owned(),
            dir: local.store_dir().clone(),
        })
    }

    /// Copies `drvs` with their closures there, realises them there and copies their outputs
    /// back, with their closures.
    pub fn realise(&self, drvs: &[StorePath]) -> std::result::Result<(), ElsewhereError> {
        self.realise_inner(drvs)
            .map_err(|e| ElsewhereError(format!("the build host {}: {e:#}", self.remote.target())))
    }

    fn realise_inner(&self, drvs: &[StorePath]) -> Result<()> {
        let mut local = LocalStore::open(&self.root, self.dir.clone())?;
        let mut bar = ProgressLine::new("build host: sending");
        let sent = remote::copy_to(&local, &self.remote, drvs, &mut |p| bar.show(p));
        bar.clear();
        let sent = sent?;
        eprintln!(
            "build host: sent {} of the derivations' closure's {} paths",
            sent.sent, sent.closure
        );
        let program = self.remote.program()?.to_owned();
        let shown: Vec<String> = drvs.iter().map(|d| self.dir.display(d)).collect();
        let mut args = vec!["realise"];
        args.extend(shown.iter().map(String::as_str));
        let ran = self
            .remote
            .run(&program, &args, None, &mut |l| eprintln!("build host: {l}"))?;
        if ran.code != Some(0) {
            bail!(
                "`strata realise` failed there ({}): {}",
                ran.code
                    .map_or_else(|| "killed".to_owned(), |c| format!("exit status {c}")),
                ran.detail()
            );
        }
        let outputs = remote::parse_path_list(&self.dir, &ran.stdout)
            .context("`strata realise` there printed something else than store paths")?;
        let mut bar = ProgressLine::new("build host: receiving");
        let got = remote::copy_from(&mut local, &self.remote, &outputs, &mut |p| bar.show(p));
        bar.clear();
        let got = got?;
        eprintln!(
            "build host: received {} paths ({:.1} MiB)",
            got.sent,
            got.bytes as f64 / 1048576.0
        );
        Ok(())
    }
}

/// The store of `target` (`[user@]host[:port]` or `ssh://...`), reached with the ssh of
/// [`Ssh::from_env`].
pub fn remote_store(
    target: SshTarget,
    local: &LocalStore,
    program: Option<String>,
    sudo: bool,
) -> Result<RemoteStore> {
    let ssh = Ssh::from_env(target)?;
    Ok(RemoteStore::new(ssh, local.store_dir().clone(), program).with_sudo(sudo))
}

/// The exit code an outcome means; see the module documentation.
pub fn exit_code(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Ran { code, .. } => u8::try_from(*code).unwrap_or(1),
        Outcome::Confirmed { .. } => 0,
        Outcome::Reverted { .. } | Outcome::Unknown { .. } | Outcome::Unreachable { .. } => {
            EXIT_UNCONFIRMED
        }
    }
}

/// `strata VERB --target-host HOST`: `toplevel` (valid in `store`) copied there and activated.
pub fn run_verb(
    store: &LocalStore,
    toplevel: &StorePath,
    verb: Verb,
    remote: RemoteArgs,
    confirm_within: Option<Duration>,
    json: bool,
) -> Result<ExitCode> {
    let Some(host) = remote.target_host else {
        bail!("no --target-host");
    };
    let target = SshTarget::parse(&host)?;
    let machine = remote_store(target, store, remote.remote_program, remote.use_remote_sudo)?;
    let before = machine
        .state(None, None)
        .with_context(|| format!("cannot use {}", machine.target()))?;
    let mut bar = ProgressLine::new("sending");
    let copied = remote::copy_to(store, &machine, std::slice::from_ref(toplevel), &mut |p| {
        bar.show(p)
    });
    bar.clear();
    let copied =
        copied.with_context(|| format!("failed to copy the generation to {}", machine.target()))?;
    eprintln!(
        "copied {} of the closure's {} paths to {} ({:.1} MiB)",
        copied.sent,
        copied.closure,
        machine.target(),
        copied.bytes as f64 / 1048576.0
    );
    let activation = Activation {
        toplevel,
        verb,
        confirm_within,
        settle: SETTLE,
    };
    if let Some(w) = confirm_within {
        eprintln!(
            "switching {}; it goes back to generation {} unless confirmed from here within {} s",
            machine.target(),
            before
                .current
                .as_ref()
                .map_or_else(|| "none".to_owned(), |g| g.number.to_string()),
            w.as_secs()
        );
    }
    let outcome = machine
        .activate(&activation, &mut |line| eprintln!("{line}"))
        .with_context(|| format!("failed to run `{}` on {}", verb.word(), machine.target()))?;
    let code = exit_code(&outcome);
    let mut out = io::stdout().lock();
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        match &outcome {
            Outcome::Ran { output, .. } => {
                let _ = write!(out, "{output}");
            }
            Outcome::Confirmed { generation } => {
                let _ = writeln!(
                    out,
                    "confirmed from here: {} keeps generation {}",
                    machine.target(),
                    generation.map_or_else(|| "?".to_owned(), |n| n.to_string())
                );
            }
            _ => {}
        }
    }
    describe_failure(&machine, verb, &outcome);
    Ok(ExitCode::from(code))
}

/// The error line of an outcome that is not a success, if it is one.
fn describe_failure(machine: &RemoteStore, verb: Verb, outcome: &Outcome) {
    let gen = |g: &Option<u32>| g.map_or_else(|| "none".to_owned(), |n| n.to_string());
    match outcome {
        Outcome::Ran { code, detail, .. } if *code != 0 => eprintln!(
            "error: `{}` failed on {} (exit status {code}): {detail}",
            verb.word(),
            machine.target()
        ),
        Outcome::Reverted { generation, detail } => eprintln!(
            "error: {} was unreachable after the switch ({detail}); it went back to \
             generation {} by itself",
            machine.target(),
            gen(generation)
        ),
        Outcome::Unknown { generation, detail } => eprintln!(
            "error: {} answered only after the window ({detail}); running generation: {}",
            machine.target(),
            gen(generation)
        ),
        Outcome::Unreachable { detail } => {
            eprintln!("error: {}: {detail}", machine.target());
        }
        Outcome::Ran { .. } | Outcome::Confirmed { .. } => {}
    }
}
