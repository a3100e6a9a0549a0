//! strata-cli: the `strata` command line: argument parsing, output formats and exit codes.
//!
//! Must not: hold logic that a library should own. Every command here parses its arguments,
//! calls one library operation and prints the result.

#![forbid(unsafe_code)]

mod build_cmd;
mod config_cmd;
mod copy_cmd;
mod deploy_cmd;
mod eval_cmd;
mod flake_cmd;
mod generations_cmd;
mod image_cmd;
mod init_cmd;
mod key_cmd;
mod lock_cmd;
mod realise_cmd;
mod remote_cmd;
mod shell_cmd;
mod store_cmd;
mod substitute_args;
mod switch_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use strata_activate::switch::Action;
use strata_store::{LocalStore, StoreDir};

/// Declarative, reproducible Linux machines that can roll back.
#[derive(Debug, Parser)]
#[command(name = "strata", version)]
pub struct Cli {
    /// Physical directory the store lives under [env: STRATA_STORE_ROOT] [default: a per-user
    /// data directory, or / on a strata-built machine].
    #[arg(long, global = true, value_name = "DIR")]
    pub store_root: Option<PathBuf>,

    /// Logical store directory; part of every store path's hash.
    #[arg(long, global = true, value_name = "DIR", default_value = "/nix/store")]
    pub store_dir: String,

    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with the store: add, query, verify, export, import, collect garbage.
    #[command(subcommand)]
    Store(store_cmd::StoreCommand),
    /// Hash a file or a tree as Nix does.
    #[command(subcommand)]
    Hash(store_cmd::HashCommand),
    /// Copy closures to or from another machine's store over SSH, or to and from a binary
    /// cache (file://, http(s)://), only what the other side lacks.
    Copy(copy_cmd::CopyArgs),
    /// Make signing keys for binary caches.
    #[command(subcommand)]
    Key(key_cmd::KeyCommand),
    /// Evaluate a Nix expression and print its value (like `nix-instantiate --eval`).
    Eval(eval_cmd::EvalArgs),
    /// Evaluate a machine configuration and print what the builder will build from it.
    EvalConfig(config_cmd::EvalConfigArgs),
    /// List the options a configuration can set, with types, defaults and descriptions.
    Options(config_cmd::OptionsArgs),
    /// Lock, update and describe flakes (flake.nix with its inputs pinned in flake.lock).
    #[command(subcommand)]
    Flake(flake_cmd::FlakeCommand),
    /// Pin Debian packages in strata.lock (`update`) and fetch what it pins (`fetch`).
    #[command(subcommand)]
    Lock(lock_cmd::LockCommand),
    /// Build derivations and what they need, in parallel (like `nix-store --realise`).
    Realise(realise_cmd::RealiseArgs),
    /// Print the kept build log of a derivation or of one of its outputs.
    Log(realise_cmd::LogArgs),
    /// Build a configuration's system (its toplevel) and link `result` to it.
    Build(build_cmd::BuildArgs),
    /// Build the configuration, activate it and make it the boot default.
    Switch(switch_cmd::SwitchArgs),
    /// Build the configuration and make it the boot default, without activating it.
    Boot(switch_cmd::SwitchArgs),
    /// Build the configuration and activate it, leaving the profile and boot default alone.
    Test(switch_cmd::SwitchArgs),
    /// Build the configuration and print what switching to it would change.
    DryActivate(switch_cmd::DryActivateArgs),
    /// Build every machine of a fleet file, copy and switch them over SSH in parallel, each
    /// with a confirmation window; print a table of the results.
    Deploy(deploy_cmd::DeployArgs),
    /// Switch back to the generation before the current one.
    Rollback(switch_cmd::RollbackArgs),
    /// Keep a switch made with --confirm-within.
    Confirm(switch_cmd::ConfirmArgs),
    /// Delete old generations (-d, --delete-older-than), then the store paths nothing uses.
    CollectGarbage(switch_cmd::CollectGarbageArgs),
    #[command(hide = true)]
    RevertUnconfirmed(switch_cmd::RevertArgs),
    /// What a generation's `bin/switch-to-configuration` runs (its first line).
    #[command(hide = true)]
    SwitchToConfiguration(switch_cmd::SwitchToConfigurationArgs),
    /// Build the configuration and write it as a disk image (raw, qcow2) or a tarball.
    Image(image_cmd::ImageArgs),
    /// Build the configuration as a virtual machine: a disk and result/bin/run-<host>-vm.
    BuildVm(image_cmd::BuildVmArgs),
    /// Enter a shell with Debian packages of the pinned suite (-p NAME..., or shell.nix), as
    /// nix-shell does; no root needed.
    Shell(shell_cmd::ShellArgs),
    /// List or delete the system profile's generations.
    #[command(subcommand)]
    Generations(generations_cmd::GenerationsCommand),
    /// Start, stop, restart or list the running system's services.
    #[command(subcommand)]
    Service(init_cmd::ServiceCommand),
    /// Stop the services and power the running system off.
    Poweroff,
    /// Stop the services and reboot the running system.
    Reboot,
}

/// Installs the log subscriber: warnings by default, `-v` for info, `-vv` for debug;
/// `STRATA_LOG` overrides with a filter directive.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The store root: the flag, then `STRATA_STORE_ROOT`, then `/` on a strata-built machine
/// (marked by `/etc/strata/machine`), then `$XDG_DATA_HOME/strata/root` or
/// `~/.local/share/strata/root`.
pub fn store_root(flag: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(r) = flag {
        return Ok(r);
    }
    if let Some(r) = std::env::var_os("STRATA_STORE_ROOT").filter(|r| !r.is_empty()) {
        return Ok(PathBuf::from(r));
    }
    if std::path::Path::new("/etc/strata/machine").exists() {
        return Ok(PathBuf::from("/"));
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("strata/root"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("cannot choose a store root: set --store-root, STRATA_STORE_ROOT or HOME")?;
    Ok(PathBuf::from(home).join(".local/share/strata/root"))
}

/// On a strata machine the store is mounted read-only (strata-init binds it so): a command
/// that writes to it gets a private mount namespace in which the store is writable, as Nix
/// does. Nothing changes for other processes.
fn writable_store(store: &std::path::Path) -> Result<()> {
    if !strata_store::fs::is_read_only(store).unwrap_or(false) {
        return Ok(());
    }
    strata_init::host::writable_in_private_namespace(store).map_err(|e| {
        anyhow::anyhow!(
            "the store {} is read-only and cannot be made writable for this command: {e} \
             (are you root?)",
            store.display(),
        )
    })
}

/// Opens the store the global options name.
pub fn open_store(cli_root: Option<PathBuf>, store_dir: &str) -> Result<LocalStore> {
    let root = store_root(cli_root)?;
    let dir = StoreDir::new(store_dir)?;
    if root == std::path::Path::new("/") {
        writable_store(&root.join(store_dir.trim_start_matches('/')))?;
    }
    LocalStore::open(&root, dir)
        .with_context(|| format!("failed to open the store under '{}'", root.display()))
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Store(cmd) => store_cmd::run_store(cmd, cli.store_root, &cli.store_dir),
        Command::Hash(cmd) => store_cmd::run_hash(cmd),
        Command::Copy(args) => copy_cmd::copy(args, cli.store_root, &cli.store_dir),
        Command::Key(cmd) => key_cmd::run(cmd),
        Command::Eval(args) => eval_cmd::run(args, cli.store_root, &cli.store_dir),
        Command::EvalConfig(args) => config_cmd::eval_config(args, cli.store_root, &cli.store_dir),
        Command::Options(args) => config_cmd::options(args),
        Command::Flake(cmd) => flake_cmd::run(cmd, cli.store_root, &cli.store_dir),
        Command::Lock(cmd) => lock_cmd::run(cmd, cli.store_root, &cli.store_dir),
        Command::Realise(args) => realise_cmd::realise(args, cli.store_root, &cli.store_dir),
        Command::Log(args) => realise_cmd::log(args, cli.store_root, &cli.store_dir),
        Command::Build(args) => build_cmd::build(args, cli.store_root, &cli.store_dir),
        Command::Switch(a) => switch_cmd::switch(Action::Switch, a, cli.store_root, &cli.store_dir),
        Command::Boot(a) => switch_cmd::switch(Action::Boot, a, cli.store_root, &cli.store_dir),
        Command::Test(a) => switch_cmd::switch(Action::Test, a, cli.store_root, &cli.store_dir),
        Command::DryActivate(a) => switch_cmd::dry_activate(a, cli.store_root, &cli.store_dir),
        Command::Deploy(a) => deploy_cmd::deploy(a, cli.store_root, &cli.store_dir),
        Command::Rollback(a) => switch_cmd::rollback(a),
        Command::Confirm(a) => switch_cmd::confirm(a),
        Command::CollectGarbage(a) => {
            switch_cmd::collect_garbage(a, cli.store_root, &cli.store_dir)
        }
        Command::RevertUnconfirmed(a) => switch_cmd::revert_unconfirmed(a),
        Command::SwitchToConfiguration(a) => {
            switch_cmd::switch_to_configuration(a, cli.store_root, &cli.store_dir)
        }
        Command::Image(a) => image_cmd::image(a, cli.store_root, &cli.store_dir),
        Command::BuildVm(a) => image_cmd::build_vm(a, cli.store_root, &cli.store_dir),
        Command::Shell(a) => shell_cmd::shell(a, cli.store_root, &cli.store_dir),
        Command::Generations(cmd) => generations_cmd::run(cmd),
        Command::Service(cmd) => init_cmd::service(cmd),
        Command::Poweroff => init_cmd::power("poweroff"),
        Command::Reboot => init_cmd::power("reboot"),
    }
}
