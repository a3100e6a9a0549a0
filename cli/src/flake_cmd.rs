//! `strata flake lock|update|metadata|show` and the `--flake REF#NAME` of `strata build`:
//! flakes ([`strata_builder::flake`]) locked, described and turned into configurations.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use strata_builder::flake::{
    self, flake_configuration, lock_flake_with, FlakeConfiguration, FlakeRef, LockMode, LockedFlake,
};
use strata_store::LocalStore;

use crate::build_cmd::BuildInputs;

#[derive(Debug, Subcommand)]
pub enum FlakeCommand {
    /// Fetch the flake's inputs and write flake.lock; inputs already locked stay as they are.
    Lock(FlakeArg),
    /// Lock inputs again from their references: all of them, or each INPUT named (`a`, or
    /// `a/b` for an input of an input).
    Update(UpdateArgs),
    /// Print the flake's source, revision, description and locked inputs.
    Metadata(FlakeArg),
    /// Print the flake's outputs.
    Show(ShowArgs),
    /// Evaluate every output and each of strataConfigurations with its assertions; build
    /// nothing.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The flake.
    #[arg(value_name = "FLAKE", default_value = ".")]
    pub flake: String,
    /// The lock file pinning the packages [default: that of the flake's input `strata`, else
    /// strata's own].
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Let the evaluation read the host's files and environment (it is pure otherwise).
    #[arg(long)]
    pub impure: bool,
    #[command(flatten)]
    pub overrides: OverrideInputs,
    /// Base URL of the Debian archive [env: STRATA_DEBIAN_MIRROR] [default: from the apt
    /// sources].
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
}

#[derive(Debug, Args)]
pub struct FlakeArg {
    /// The flake: a directory (`.`), `path:DIR`, `git+file:///REPO`, `git+https://...`, a
    /// tarball's URL, `github:OWNER/REPO`; `?dir=SUB` for a flake in a subdirectory.
    #[arg(value_name = "FLAKE", default_value = ".")]
    pub flake: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub overrides: OverrideInputs,
}

#[derive(Debug, Default, Args)]
pub struct OverrideInputs {
    /// Take the input INPUT (`a`, or `a/b` for an input of an input) from FLAKE instead of
    /// what the flake declares; only `flake lock` and `flake update` write it into
    /// flake.lock.
    #[arg(long = "override-input", num_args = 2, value_names = ["INPUT", "FLAKE"])]
    pub override_input: Vec<String>,
}

impl OverrideInputs {
    fn parsed(&self) -> Result<Vec<(String, FlakeRef)>> {
        let cwd = cwd()?;
        self.override_input
            .chunks(2)
            .map(|pair| match pair {
                [name, r] => Ok((name.clone(), FlakeRef::parse(r, &cwd)?)),
                _ => anyhow::bail!("--override-input takes an input and a flake"),
            })
            .collect()
    }
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub flake: FlakeArg,
    /// Let the evaluation read the host's files and environment (it is pure otherwise).
    #[arg(long)]
    pub impure: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The inputs to update [default: all].
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// The flake.
    #[arg(long, value_name = "FLAKE", default_value = ".")]
    pub flake: String,
    #[command(flatten)]
    pub overrides: OverrideInputs,
}

fn cwd() -> Result<PathBuf> {
    std::env::current_dir().context("cannot read the current directory")
}

/// Whether a command locks a flake to write its lock, or to read the flake.
#[derive(Debug, Clone, Copy)]
enum Why {
    Lock,
    Read,
}

/// Locks the flake `text` names, saying its warnings and whether the lock was written.
fn locked(
    store: &mut LocalStore,
    text: &str,
    mode: LockMode,
    overrides: &OverrideInputs,
    why: Why,
) -> Result<LockedFlake> {
    let reference = FlakeRef::parse(text, &cwd()?)?;
    // As Nix: only `flake lock` and `flake update` write a lock with an input overridden.
    let write = overrides.override_input.is_empty() || !matches!(why, Why::Read);
    let f = lock_flake_with(store, &reference, mode, &overrides.parsed()?, write)
        .with_context(|| format!("cannot lock the flake {reference}"))?;
    say(&f);
    Ok(f)
}

fn say(f: &LockedFlake) {
    for w in &f.warnings {
        eprintln!("warning: {w}");
    }
    if f.lock_written {
        eprintln!("wrote {}", f.lock_file.display());
    }
}

pub fn run(cmd: FlakeCommand, root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    let mut store = crate::open_store(root, store_dir)?;
    match cmd {
        FlakeCommand::Lock(a) => {
            let f = locked(
                &mut store,
                &a.flake,
                LockMode::Keep,
                &a.overrides,
                Why::Lock,
            )?;
            if !f.lock_written {
                eprintln!("{} is up to date", f.lock_file.display());
            }
        }
        FlakeCommand::Update(a) => {
            let f = locked(
                &mut store,
                &a.flake,
                LockMode::Update(a.inputs),
                &a.overrides,
                Why::Lock,
            )?;
            if !f.lock_written {
                eprintln!("{}: no input changed", f.lock_file.display());
            }
        }
        FlakeCommand::Metadata(a) => {
            let f = locked(
                &mut store,
                &a.flake,
                LockMode::Keep,
                &a.overrides,
                Why::Read,
            )?;
            metadata(&f, a.json)?;
        }
        FlakeCommand::Show(a) => {
            let f = locked(
                &mut store,
                &a.flake.flake,
                LockMode::Keep,
                &a.flake.overrides,
                Why::Read,
            )?;
            let (root, dir) = (store.root().to_owned(), store.store_dir().clone());
            drop(store);
            let outputs = flake::machine::eval_json_as(
                &root,
                &dir,
                &f,
                "builtins.mapAttrs (n: v:\n  \
                   if builtins.isAttrs v && (v.type or null) != \"derivation\"\n  \
                   then builtins.attrNames v else builtins.typeOf v) flake.outputs",
                a.impure,
            )?;
            show(&f, &outputs, a.flake.json)?;
        }
        FlakeCommand::Check(a) => {
            let f = locked(
                &mut store,
                &a.flake,
                LockMode::Keep,
                &a.overrides,
                Why::Read,
            )?;
            let (lock, lock_path) = flake_lock(a.lock.clone(), &f, &store)?;
            let (root, dir) = (store.root().to_owned(), store.store_dir().clone());
            drop(store);
            return check(&f, a, (lock, lock_path), &root, &dir);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(
    f: &LockedFlake,
    a: CheckArgs,
    (lock, lock_path): (strata_builder::debian::lock::LockFile, PathBuf),
    root: &std::path::Path,
    dir: &strata_store::StoreDir,
) -> Result<ExitCode> {
    let modules = strata_builder::config::modules_dir()
        .context("strata's module set cannot be found (set STRATA_MODULES)")?;
    let mirror = strata_builder::debian::mirror::debian_mirror(
        a.mirror.as_deref(),
        &lock.architecture,
        std::path::Path::new("/"),
    )
    .ok()
    .flatten();
    let with = flake::check::Evaluation {
        modules: &modules,
        lock: &lock,
        lock_file: Some(&lock_path),
        mirror,
        impure: a.impure,
    };
    let checked = flake::check::check(root, dir, f, with)
        .with_context(|| format!("cannot check the flake {}", f.reference))?;
    let mut failed = 0;
    for c in &checked {
        match &c.result {
            Ok(warnings) => {
                for w in warnings {
                    eprintln!("warning: strataConfigurations.{}: {w}", c.name);
                }
                println!("strataConfigurations.{}: ok", c.name);
            }
            Err(e) => {
                failed += 1;
                println!("strataConfigurations.{}: error: {e}", c.name);
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn metadata(f: &LockedFlake, as_json: bool) -> Result<()> {
    let s = &f.source;
    let root = f.lock.nodes.get(&f.lock.root);
    if as_json {
        let v = json!({
            "url": f.reference.to_string(),
            "description": f.description,
            "path": s.store_path,
            "narHash": s.nar_hash.to_sri(),
            "revision": s.rev,
            "dirtyRevision": s.dirty_rev,
            "revCount": s.rev_count,
            "lastModified": s.last_modified,
            "locks": f.lock,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("URL:           {}", f.reference);
    if let Some(d) = &f.description {
        println!("Description:   {d}");
    }
    println!("Path:          {}", s.store_path);
    println!("NAR hash:      {}", s.nar_hash.to_sri());
    if let Some(r) = s.rev.as_ref().or(s.dirty_rev.as_ref()) {
        println!("Revision:      {r}");
    }
    if let Some(c) = s.rev_count {
        println!("Revisions:     {c}");
    }
    println!("Last modified: {}", s.last_modified);
    let inputs: Vec<_> = root.map(|r| r.inputs.iter().collect()).unwrap_or_default();
    if !inputs.is_empty() {
        println!("Inputs:");
    }
    for (i, (name, target)) in inputs.iter().enumerate() {
        let branch = if i + 1 == inputs.len() {
            "└───"
        } else {
            "├───"
        };
        let what = match target {
            flake::lock::InputTarget::Follows(p) => format!("follows input '{}'", p.join("/")),
            flake::lock::InputTarget::Node(n) => f
                .lock
                .nodes
                .get(n)
                .and_then(|n| n.locked.as_ref())
                .and_then(|l| flake::FlakeRef::from_locked(l).ok())
                .map(|r| r.to_string())
                .unwrap_or_else(|| n.clone()),
        };
        println!("{branch}{name}: {what}");
    }
    Ok(())
}

fn show(f: &LockedFlake, outputs: &Value, as_json: bool) -> Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(outputs)?);
        return Ok(());
    }
    println!("{}", f.reference);
    let Some(map) = outputs.as_object() else {
        return Ok(());
    };
    for (i, (name, v)) in map.iter().enumerate() {
        let last = i + 1 == map.len();
        let (branch, pipe) = if last {
            ("└───", "    ")
        } else {
            ("├───", "│   ")
        };
        match v {
            Value::Array(names) => {
                println!("{branch}{name}");
                let kind = if name == "strataConfigurations" {
                    ": strata configuration"
                } else {
                    ""
                };
                for (j, n) in names.iter().enumerate() {
                    let b = if j + 1 == names.len() {
                        "└───"
                    } else {
                        "├───"
                    };
                    println!("{pipe}{b}{}{kind}", n.as_str().unwrap_or_default());
                }
            }
            other => println!("{branch}{name}: {}", other.as_str().unwrap_or_default()),
        }
    }
    Ok(())
}

/// `--flake REF#NAME`: the machine made a configuration file (alive as long as the returned
/// value), its flake locked first (flake.lock written on first use).
pub fn configuration(
    text: &str,
    store: &LocalStore,
    impure: bool,
    overrides: &OverrideInputs,
) -> Result<FlakeConfiguration> {
    let overrides = overrides.parsed()?;
    let c = flake_configuration(
        store.root(),
        store.store_dir(),
        text,
        &cwd()?,
        impure,
        &overrides,
    )
    .with_context(|| format!("cannot use the flake {text}"))?;
    say(&c.flake);
    Ok(c)
}

/// A flake whose outputs other than its machines are used (`strata deploy --flake`,
/// `strata shell --flake`): locked, its warnings said.
pub fn locked_for_outputs(store: &LocalStore, text: &str) -> Result<LockedFlake> {
    let reference = FlakeRef::parse(text, &cwd()?)?;
    let mut store = LocalStore::open(store.root(), store.store_dir().clone())?;
    let f = flake::lock_flake(&mut store, &reference, LockMode::Keep)
        .with_context(|| format!("cannot use the flake {reference}"))?;
    say(&f);
    Ok(f)
}

/// The lock pinning the packages of what a flake builds: `--lock`, else the lock of its
/// package-set input (`inputs.strata`), else strata's own (a flake without a package-set
/// input uses it, as a configuration without a strata.lock does). Says which on standard
/// error when it is not the one named.
pub fn lock_for(flag: Option<PathBuf>, f: &LockedFlake, store: &LocalStore) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p);
    }
    if let Some((lock, shown)) = flake::machine::package_set_lock(store, f)? {
        eprintln!("the packages are those of the flake's {shown}");
        return Ok(lock);
    }
    let own = strata_builder::sources::strata_lock().context(
        "strata's own lock cannot be found (set STRATA_MODULES to a module set with a \
         strata.lock beside it, or give --lock)",
    )?;
    eprintln!(
        "the flake {} has no package-set input: using strata's own lock, {}",
        f.reference,
        own.display()
    );
    Ok(own)
}

/// [`lock_for`], read.
pub fn flake_lock(
    flag: Option<PathBuf>,
    f: &LockedFlake,
    store: &LocalStore,
) -> Result<(strata_builder::debian::lock::LockFile, PathBuf)> {
    let path = lock_for(flag, f, store)?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the lock file '{}'", path.display()))?;
    let lock = strata_builder::debian::lock::LockFile::parse(&text)
        .with_context(|| format!("in {}", path.display()))?;
    Ok((lock, path))
}

/// `--flake REF#NAME` given: `inputs` made to build the flake's machine (its configuration
/// file, and its lock, [`lock_for`]). The returned value keeps the
/// configuration file; keep it until the build is done.
pub fn use_flake(
    inputs: &mut BuildInputs,
    flake: Option<&str>,
    store: &LocalStore,
) -> Result<Option<FlakeConfiguration>> {
    let Some(text) = flake else {
        if !inputs.overrides.override_input.is_empty() {
            anyhow::bail!("--override-input changes an input of a flake: it needs --flake");
        }
        return Ok(None);
    };
    let c = configuration(text, store, inputs.impure, &inputs.overrides)?;
    inputs.file = Some(c.configuration.clone());
    inputs.lock = Some(lock_for(inputs.lock.take(), &c.flake, store)?);
    Ok(Some(c))
}
