//! `strata switch|boot|test|dry-activate|rollback|confirm|collect-garbage`: the verbs of
//! `nixos-rebuild` and `nix-collect-garbage`, over the machine whose root is `--root`. The
//! first four build the configuration, or take a generation built already (`--toplevel`);
//! every generation's `bin/switch-to-configuration` comes back here through the hidden
//! `strata switch-to-configuration SCRIPT VERB`.
//!
//! Exit codes: 0 done; 1 refused or failed before anything changed (evaluation, build, a
//! pending confirmation); 3 activation failed (profile and boot default unchanged); 4 the
//! services did not all follow; 5 the boot menu could not be written (boot default
//! unchanged).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use strata_activate::collect::{self, OldGenerations};
use strata_activate::control::CONTROL_SOCKET;
use strata_activate::profile;
use strata_activate::switch::{self, Action, Outcome, SwitchError, SwitchOptions};
use strata_store::local::GcOptions;
use strata_store::{LocalStore, StorePath};

use crate::build_cmd::{build_system_with, BuildInputs};
use crate::remote_cmd::{self, RemoteArgs};
use strata_store::remote::machine::Verb as RemoteVerb;

/// The machine a verb works on.
#[derive(Debug, Args)]
pub struct MachineArgs {
    /// The machine's root directory (default: this machine, which strata must have set up).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        env = "STRATA_MACHINE_ROOT"
    )]
    pub root: PathBuf,
}

/// The build inputs a `--toplevel` replaces.
const BUILD_ARGS: [&str; 9] = [
    "file",
    "flake",
    "impure",
    "override_input",
    "lock",
    "jobs",
    "keep_going",
    "timeout",
    "mirror",
];

#[derive(Debug, Args)]
pub struct SwitchArgs {
    #[command(flatten)]
    pub inputs: BuildInputs,
    /// Activate this generation, built already (its store path, or a link to it such as
    /// `result`), instead of building the configuration.
    #[arg(long, value_name = "PATH", conflicts_with_all = BUILD_ARGS)]
    pub toplevel: Option<PathBuf>,
    #[command(flatten)]
    pub machine: MachineArgs,
    /// Revert to the previous generation unless `strata confirm` runs within this time
    /// (`60s`, `5m`); meanwhile the boot default stays the previous generation.
    #[arg(long, value_name = "TIME")]
    pub confirm_within: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print what was done as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DryActivateArgs {
    #[command(flatten)]
    pub inputs: BuildInputs,
    /// Compare with this generation, built already, instead of building the configuration.
    #[arg(long, value_name = "PATH", conflicts_with_all = BUILD_ARGS)]
    pub toplevel: Option<PathBuf>,
    #[command(flatten)]
    pub machine: MachineArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `strata confirm`'s arguments.
#[derive(Debug, Args)]
pub struct ConfirmArgs {
    #[command(flatten)]
    pub machine: MachineArgs,
    /// Print what was done as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub machine: MachineArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CollectGarbageArgs {
    #[command(flatten)]
    pub machine: MachineArgs,
    /// Delete every generation but the current one first.
    #[arg(short = 'd', long = "delete-old", conflicts_with = "delete_older_than")]
    pub delete_old: bool,
    /// Delete the generations older than this first (`30d`, `12h`).
    #[arg(long, value_name = "AGE")]
    pub delete_older_than: Option<String>,
    /// Say what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The hidden watchdog a `--confirm-within` switch leaves behind.
#[derive(Debug, Args)]
pub struct RevertArgs {
    #[command(flatten)]
    pub machine: MachineArgs,
    /// The switch's target generation.
    #[arg(long)]
    pub target: String,
    /// Seconds since the epoch.
    #[arg(long)]
    pub deadline: u64,
}

/// NixOS's verbs, as `<toplevel>/bin/switch-to-configuration` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Verb {
    Switch,
    Boot,
    Test,
    DryActivate,
}

/// What the kernel runs for `<toplevel>/bin/switch-to-configuration VERB`: the script's first
/// line names this program and this subcommand, then come the script's path and the verb.
#[derive(Debug, Args)]
pub struct SwitchToConfigurationArgs {
    /// The script, as it was run; its generation is the directory above its `bin`.
    pub script: PathBuf,
    pub verb: Verb,
    #[command(flatten)]
    pub machine: MachineArgs,
}

fn check_machine(root: &Path) -> Result<()> {
    Ok(switch::require_strata_machine(root)?)
}

/// The store a verb builds into: `--store-root` (or `$STRATA_STORE_ROOT`), else the machine
/// root when one is given, else the default.
fn store_for(root: &Path, store_root: Option<PathBuf>) -> Option<PathBuf> {
    store_root
        .or_else(|| {
            std::env::var_os("STRATA_STORE_ROOT")
                .filter(|r| !r.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| (root != Path::new("/")).then(|| root.to_owned()))
}

fn options(root: &Path, confirm_within: Option<Duration>) -> SwitchOptions {
    SwitchOptions {
        // Fault injection for the tests of interrupted switches.
        fail_at: std::env::var("STRATA_TEST_FAIL_AT")
            .ok()
            .and_then(|v| v.parse().ok()),
        // On the live machine, new swap entries and kernel modules take effect now.
        kernel: (root == Path::new("/")).then(strata_init::modload::kernel_calls),
        ..SwitchOptions::for_root(root, confirm_within)
    }
}

/// Prints what a verb did. Standard output may be gone (the SSH connection a remote switch ran
/// over, cut by the switch): that is no reason to stop, so write errors are ignored.
fn report(out: &Outcome, json: bool) -> Result<()> {
    use std::io::Write as _;
    let mut w = std::io::stdout().lock();
    if json {
        let _ = writeln!(w, "{}", serde_json::to_string_pretty(out)?);
        return Ok(());
    }
    for c in &out.activation {
        let _ = writeln!(w, "activation: {c}");
    }
    for s in &out.services {
        let _ = writeln!(w, "services: {s}");
    }
    if !out.boot_written.is_empty() || !out.boot_removed.is_empty() {
        let _ = writeln!(
            w,
            "boot menu: {} files written, {} removed",
            out.boot_written.len(),
            out.boot_removed.len()
        );
    }
    if let Some(n) = out.generation {
        let _ = writeln!(w, "generation {n} is current");
    }
    Ok(())
}

/// The exit code and message of a verb's failure.
fn failed(e: SwitchError) -> Result<ExitCode> {
    eprintln!("error: {e}");
    Ok(ExitCode::from(e.exit_code()))
}

pub fn switch(
    action: Action,
    args: SwitchArgs,
    store_root: Option<PathBuf>,
    store_dir: &str,
) -> Result<ExitCode> {
    let root = args.machine.root;
    let within = match &args.confirm_within {
        Some(s) if action == Action::Switch => Some(profile::parse_age(s).ok_or_else(|| {
            anyhow::anyhow!("--confirm-within {s}: give a time like 60s, 5m or 1h")
        })?),
        Some(_) => bail!("--confirm-within goes with `strata switch' only"),
        None => None,
    };
    if args.remote.target_host.is_some() {
        let verb = match action {
            Action::Switch => RemoteVerb::Switch,
            Action::Boot => RemoteVerb::Boot,
            Action::Test => RemoteVerb::Test,
        };
        let target = Target::new(root, store_root, store_dir, &args.remote);
        return on_target(target, args.inputs, args.toplevel, |store, t| {
            remote_cmd::run_verb(store, t, verb, args.remote, within, args.json)
        });
    }
    check_machine(&root)?;
    let store = crate::open_store(store_for(&root, store_root), store_dir)?;
    // The new generation must survive a collection until the profile holds it.
    let _hold = store.gc_hold()?;
    let toplevel = generation(
        &store,
        args.inputs,
        args.toplevel,
        args.remote.build_host.as_deref(),
        args.remote.remote_program,
    )?;
    let toplevel = store.print(&toplevel);
    let opts = options(&root, within);
    let out = match switch::switch(&root, &toplevel, action, &opts) {
        Ok(o) => o,
        Err(e) => {
            // Services that did not follow leave the switch waiting for its confirmation all
            // the same: its watchdog must run, or nothing would ever revert it.
            if let Ok(Some(p)) = switch::pending(&root) {
                if within.is_some() && p.target == toplevel {
                    spawn_watchdog(&root, &toplevel, p.deadline)?;
                }
            }
            return failed(e);
        }
    };
    // The watchdog first: the report may fail to reach a connection the switch cut.
    if let Some(deadline) = out.confirm_by {
        spawn_watchdog(&root, &toplevel, deadline)?;
    }
    report(&out, args.json)?;
    if out.confirm_by.is_some() {
        eprintln!(
            "run `strata confirm` within {} s, or the machine goes back to the previous \
             generation",
            within.map_or(0, |d| d.as_secs())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a `--target-host` verb's generation is made: this machine's store, built here or on
/// the build host.
struct Target<'a> {
    root: PathBuf,
    store_root: Option<PathBuf>,
    store_dir: &'a str,
    builder: Option<String>,
    program: Option<String>,
}

impl<'a> Target<'a> {
    fn new(
        root: PathBuf,
        store_root: Option<PathBuf>,
        store_dir: &'a str,
        remote: &RemoteArgs,
    ) -> Target<'a> {
        Target {
            root,
            store_root,
            store_dir,
            builder: remote.build_host.clone(),
            program: remote.remote_program.clone(),
        }
    }
}

/// A verb with `--target-host`: the generation built (or `--toplevel`'s) in this machine's
/// store, held from collection while `run` copies and activates it there.
fn on_target(
    t: Target<'_>,
    inputs: BuildInputs,
    toplevel: Option<PathBuf>,
    run: impl FnOnce(&LocalStore, &StorePath) -> Result<ExitCode>,
) -> Result<ExitCode> {
    if t.root != Path::new("/") {
        bail!("--root and --target-host do not go together: the target is another machine");
    }
    let store = crate::open_store(t.store_root, t.store_dir)?;
    let _hold = store.gc_hold()?;
    let toplevel = generation(&store, inputs, toplevel, t.builder.as_deref(), t.program)?;
    run(&store, &toplevel)
}

/// The generation a verb works with: `--toplevel`'s, which must be valid in the store (copied
/// whole, with its closure), else the configuration built (on `build_host` if given, with
/// `program` as its strata).
fn generation(
    store: &LocalStore,
    inputs: BuildInputs,
    toplevel: Option<PathBuf>,
    build_host: Option<&str>,
    program: Option<String>,
) -> Result<StorePath> {
    let Some(given) = toplevel else {
        let Some(host) = build_host else {
            return build_system_with(inputs, store, None, &[], None);
        };
        let builder = remote_cmd::BuildHost::new(host, store, program)?;
        let elsewhere = |drvs: &[StorePath]| builder.realise(drvs);
        return build_system_with(inputs, store, None, &[], Some(&elsewhere));
    };
    let arg = given.display().to_string();
    let path = crate::store_cmd::parse_paths(store, std::slice::from_ref(&arg))?
        .pop()
        .with_context(|| format!("'{arg}' is not a store path"))?;
    if !store.is_valid(&path)? {
        bail!(
            "the generation '{}' is not valid in the store under '{}' (copy it with its \
             closure first: `strata copy --to`)",
            store.print(&path),
            store.root().display()
        );
    }
    Ok(path)
}

/// `<toplevel>/bin/switch-to-configuration VERB` ([`SwitchToConfigurationArgs`]): the verb,
/// with the script's generation as `--toplevel`, so the same checks and exit codes.
pub fn switch_to_configuration(
    args: SwitchToConfigurationArgs,
    store_root: Option<PathBuf>,
    store_dir: &str,
) -> Result<ExitCode> {
    let script = args
        .script
        .canonicalize()
        .with_context(|| format!("cannot find the script '{}'", args.script.display()))?;
    // The generation is the store path two levels up; named by its base name, so that the
    // script's physical place (a store under another root) does not matter.
    let toplevel = script
        .parent()
        .filter(|b| b.file_name().is_some_and(|n| n == "bin"))
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .and_then(|n| StorePath::from_base_name(n).ok())
        .with_context(|| {
            format!(
                "'{}' is not a generation's bin/switch-to-configuration",
                script.display()
            )
        })?;
    let toplevel = PathBuf::from(format!(
        "{}/{}",
        store_dir.trim_end_matches('/'),
        toplevel.base_name()
    ));
    let inputs = BuildInputs {
        file: None,
        flake: None,
        impure: false,
        overrides: Default::default(),
        lock: None,
        jobs: None,
        keep_going: false,
        timeout: None,
        mirror: None,
        substitute: Default::default(),
    };
    let (machine, toplevel) = (args.machine, Some(toplevel));
    let action = match args.verb {
        Verb::DryActivate => {
            let a = DryActivateArgs {
                inputs,
                toplevel,
                machine,
                remote: RemoteArgs::default(),
                json: false,
            };
            return dry_activate(a, store_root, store_dir);
        }
        Verb::Switch => Action::Switch,
        Verb::Boot => Action::Boot,
        Verb::Test => Action::Test,
    };
    let a = SwitchArgs {
        inputs,
        toplevel,
        machine,
        confirm_within: None,
        remote: RemoteArgs::default(),
        json: false,
    };
    switch(action, a, store_root, store_dir)
}

/// Starts the process that reverts an unconfirmed switch at `deadline`: this program's
/// hidden `revert-unconfirmed` verb ([`strata_activate::confirm`]).
fn spawn_watchdog(root: &Path, target: &str, deadline: u64) -> Result<()> {
    let me = std::env::current_exe().context("cannot find the strata executable")?;
    let args = [
        "revert-unconfirmed".to_owned(),
        "--root".to_owned(),
        root.display().to_string(),
        "--target".to_owned(),
        target.to_owned(),
        "--deadline".to_owned(),
        deadline.to_string(),
    ];
    let mut cmd = strata_activate::confirm::watchdog_command(root, &me, &args)
        .context("cannot prepare the confirmation watchdog")?;
    // A session of its own, so that it outlives the terminal or the SSH connection.
    strata_init::host::new_session_on_spawn(&mut cmd);
    cmd.spawn()
        .context("cannot start the confirmation watchdog")?;
    Ok(())
}

pub fn revert_unconfirmed(args: RevertArgs) -> Result<ExitCode> {
    let root = args.machine.root;
    match strata_activate::confirm::revert_at(
        &root,
        &args.target,
        args.deadline,
        &options(&root, None),
    ) {
        Ok(Some(out)) => {
            println!("the switch to {} was not confirmed; reverted", args.target);
            report(&out, false)?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(None) => Ok(ExitCode::SUCCESS),
        Err(e) => failed(e),
    }
}

pub fn dry_activate(
    args: DryActivateArgs,
    store_root: Option<PathBuf>,
    store_dir: &str,
) -> Result<ExitCode> {
    let root = args.machine.root;
    if args.remote.target_host.is_some() {
        let target = Target::new(root, store_root, store_dir, &args.remote);
        let (remote, json) = (args.remote, args.json);
        return on_target(target, args.inputs, args.toplevel, |store, t| {
            remote_cmd::run_verb(store, t, RemoteVerb::DryActivate, remote, None, json)
        });
    }
    let store = crate::open_store(store_for(&root, store_root), store_dir)?;
    let toplevel = generation(
        &store,
        args.inputs,
        args.toplevel,
        args.remote.build_host.as_deref(),
        args.remote.remote_program,
    )?;
    let toplevel = store.print(&toplevel);
    let running = if root == Path::new("/") && Path::new(CONTROL_SOCKET).exists() {
        Some(strata_activate::control::running_services(
            Path::new(CONTROL_SOCKET),
            Duration::from_secs(10),
        )?)
    } else {
        None
    };
    let plan = switch::dry_activate(&root, &toplevel, running.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "would activate {} (now {})",
        plan.to,
        plan.from.as_deref().unwrap_or("nothing")
    );
    if let Some((a, b)) = &plan.host_name {
        println!("host name: {a} -> {b}");
    }
    if let Some((a, b)) = &plan.time_zone {
        println!(
            "time zone: {} -> {}",
            a.as_deref().unwrap_or("UTC"),
            b.as_deref().unwrap_or("UTC")
        );
    }
    let lists: [(&str, &Vec<String>); 9] = [
        ("users", &plan.users),
        ("/etc added", &plan.etc_added),
        ("/etc changed", &plan.etc_changed),
        ("/etc removed", &plan.etc_removed),
        ("would stop", &plan.services_stop),
        ("would restart", &plan.services_restart),
        ("would reload", &plan.services_reload),
        ("would start", &plan.services_start),
        (
            "changed but not restarted (restartIfChanged = false)",
            &plan.services_skipped,
        ),
    ];
    for (what, items) in lists {
        for i in items {
            println!("{what}: {i}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(args: RollbackArgs) -> Result<ExitCode> {
    let root = args.machine.root;
    check_machine(&root)?;
    match switch::rollback(&root, &options(&root, None)) {
        Ok(out) => {
            report(&out, args.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => failed(e),
    }
}

pub fn confirm(args: ConfirmArgs) -> Result<ExitCode> {
    check_machine(&args.machine.root)?;
    match switch::confirm(&args.machine.root) {
        Ok(out) => {
            report(&out, args.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => failed(e),
    }
}

pub fn collect_garbage(
    args: CollectGarbageArgs,
    store_root: Option<PathBuf>,
    store_dir: &str,
) -> Result<ExitCode> {
    let root = args.machine.root;
    check_machine(&root)?;
    let old = if args.delete_old {
        OldGenerations::DeleteAll
    } else if let Some(age) = &args.delete_older_than {
        OldGenerations::DeleteOlderThan(profile::parse_age(age).ok_or_else(|| {
            anyhow::anyhow!("--delete-older-than {age}: give an age like 30d, 12h or 3600")
        })?)
    } else {
        OldGenerations::Keep
    };
    let mut store = crate::open_store(store_for(&root, store_root), store_dir)?;
    let done = match collect::collect_garbage(&root, old, args.dry_run, || {
        store.gc(&GcOptions {
            dry_run: args.dry_run,
            ..Default::default()
        })
    }) {
        Ok(d) => d,
        Err(e) => return failed(e),
    };
    for n in &done.generations {
        if args.dry_run {
            println!("would delete generation {n}");
        } else {
            println!("deleted generation {n}");
        }
    }
    let r = done.gc;
    println!(
        "{} store paths {}deleted, {:.1} MiB freed",
        r.deleted.len(),
        if args.dry_run { "would be " } else { "" },
        r.bytes_freed as f64 / 1048576.0
    );
    Ok(ExitCode::SUCCESS)
}
