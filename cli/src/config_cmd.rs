//! `strata eval-config` and `strata options`: the module system on a configuration.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Args;
use strata_builder::config::{self, SystemConfig};
use strata_builder::debian::lock::LockFile;
use strata_builder::debian::mirror::debian_mirror;
use strata_builder::system::load_digest;
use strata_lang::Evaluator;

#[derive(Debug, Args)]
pub struct EvalConfigArgs {
    /// The configuration [default: $STRATA_CONFIG, ./configuration.nix, /etc/strata/configuration.nix].
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Print the merged configuration as JSON (the builder's input, documented in
    /// builder/src/config.rs).
    #[arg(long)]
    json: bool,
    /// The lock file whose Debian suite is `pkgs` [default: strata.lock beside the
    /// configuration, else strata's own].
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,
    /// Base URL of the Debian archive, if the lock's digest must be made
    /// [env: STRATA_DEBIAN_MIRROR] [default: from the apt sources].
    #[arg(long, value_name = "URL")]
    mirror: Option<String>,
}

#[derive(Debug, Args)]
pub struct OptionsArgs {
    /// Show only this option, or the options below this prefix; with a configuration, also its
    /// value and the files that define it (a path into an option's value, such as
    /// `users.users.alice.uid`, shows that part of the value).
    name: Option<String>,
    /// Evaluate against this configuration (its own option declarations included).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

fn config_file(flag: Option<PathBuf>) -> Result<PathBuf> {
    let f = config::configuration_file(flag.as_deref())?;
    if !f.exists() {
        bail!(
            "the configuration '{}' does not exist (give one with -f FILE)",
            f.display()
        );
    }
    std::path::absolute(&f).with_context(|| format!("failed to resolve '{}'", f.display()))
}

fn modules() -> Result<PathBuf> {
    config::modules_dir().ok_or_else(|| {
        anyhow!("cannot find strata's option set (modules/): set STRATA_MODULES to its directory")
    })
}

/// Runs `f` with an evaluator on a thread with the evaluator's stack.
fn with_evaluator<T: Send + 'static>(
    f: impl FnOnce(&mut Evaluator) -> T + Send + 'static,
) -> Result<T> {
    Ok(strata_builder::eval_thread::run("eval", move || {
        let cfg = strata_builder::eval_thread::eval_config();
        let io = Rc::new(strata_builder::eval_io::FsIo::new(
            strata_store::StoreDir::default(),
        ));
        let mut ev = Evaluator::new(cfg, io);
        ev.reset_stack_base();
        f(&mut ev)
    })?)
}

/// The lock of `configuration` and its digest's text (made in the store if needed).
fn lock_and_digest(
    configuration: &Path,
    lock: Option<PathBuf>,
    mirror: Option<&str>,
    store_root: Option<PathBuf>,
    store_dir: &str,
) -> Result<(LockFile, String)> {
    let (lock, lock_file) = crate::build_cmd::read_lock(lock, configuration)?;
    let mirror = debian_mirror(mirror, &lock.architecture, Path::new("/"))
        .ok()
        .flatten();
    let mut store = crate::open_store(store_root, store_dir)?;
    let digest = load_digest(&mut store, &lock, Some(&lock_file), mirror)?;
    Ok((lock, digest))
}

pub fn eval_config(
    args: EvalConfigArgs,
    store_root: Option<PathBuf>,
    store_dir: &str,
) -> Result<ExitCode> {
    let file = config_file(args.file)?;
    let modules = modules()?;
    let (lock, digest) = lock_and_digest(
        &file,
        args.lock,
        args.mirror.as_deref(),
        store_root,
        store_dir,
    )?;
    let f2 = file.clone();
    let result = with_evaluator(move |ev| {
        let pkgs = strata_builder::pkgs::eval_pkgs(ev, &modules, &lock, &digest)
            .map_err(|e| e.render(&ev.sources))?;
        config::evaluate_with(ev, &modules, &f2, &[], Some(pkgs))
            .map(|(e, _, _)| e)
            .map_err(|e| e.to_string())
    })?;
    let evaluated = match result {
        Ok(e) => e,
        Err(msg) => {
            eprintln!("error: {msg}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for w in &evaluated.warnings {
        eprintln!("warning: {w}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&evaluated.config)?);
    } else {
        print_summary(&evaluated.config);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(c: &SystemConfig) {
    println!("host name:     {}", c.host_name);
    println!(
        "time zone:     {}",
        c.time_zone.as_deref().unwrap_or("UTC (not set)")
    );
    println!("label:         {}", c.label);
    let loader = if c.boot.loader.grub.enable {
        format!(
            "GRUB on {}",
            if c.boot.loader.grub.device.is_empty() {
                "(EFI)"
            } else {
                &c.boot.loader.grub.device
            }
        )
    } else if c.boot.loader.systemd_boot.enable {
        "systemd-boot".to_owned()
    } else {
        "none".to_owned()
    };
    println!("boot loader:   {loader}");
    println!(
        "kernel:        {} {}",
        c.boot.kernel,
        c.boot.kernel_params.join(" ")
    );
    for (mp, fs) in &c.file_systems {
        println!(
            "file system:   {mp} <- {} ({})",
            fs.device.as_deref().unwrap_or("?"),
            fs.fs_type
        );
    }
    for (n, u) in &c.users.users {
        let mut facts = Vec::new();
        if u.is_normal_user {
            facts.push("normal".to_owned());
        }
        if u.is_system_user {
            facts.push("system".to_owned());
        }
        if let Some(uid) = u.uid {
            facts.push(format!("uid {uid}"));
        }
        if !u.extra_groups.is_empty() {
            facts.push(format!("groups {}", u.extra_groups.join(" ")));
        }
        println!("user:          {n} ({})", facts.join(", "));
    }
    for (n, s) in &c.services {
        println!(
            "service:       {n}: {}",
            if s.description.is_empty() {
                "(no description)"
            } else {
                &s.description
            }
        );
    }
    for n in c.environment.etc.keys() {
        println!("/etc:          {n}");
    }
}

pub fn options(args: OptionsArgs) -> Result<ExitCode> {
    let modules = modules()?;
    // The configuration's values are shown when there is a configuration: the flag, else the
    // usual places; without one, the option set alone (its defaults).
    let configuration = match args.file {
        Some(f) => Some(config_file(Some(f))?),
        None => config_file(None).ok(),
    };
    let with_values = configuration.is_some();
    let file = configuration.unwrap_or_else(|| modules.join("minimal.nix"));
    let name = args.name.clone();
    let doc = with_evaluator(move |ev| {
        config::options_doc(ev, &modules, &file, name.as_deref(), with_values)
            .map_err(|e| e.to_string())
    })?;
    let doc = match doc {
        Ok(d) => d,
        Err(msg) => {
            eprintln!("error: {msg}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let all = doc.as_array().cloned().unwrap_or_default();
    let selected: Vec<serde_json::Value> = match &args.name {
        Some(n) => all
            .into_iter()
            .filter(|o| {
                let name = o["name"].as_str().unwrap_or("");
                name == n || name.starts_with(&format!("{n}."))
            })
            .collect(),
        None => all,
    };
    if selected.is_empty() {
        if let Some(n) = &args.name {
            bail!("no option is named '{n}' or starts with '{n}.'");
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&selected)?);
        return Ok(ExitCode::SUCCESS);
    }
    for o in &selected {
        println!("{}", o["name"].as_str().unwrap_or(""));
        if let Some(p) = o.get("partOf").and_then(|d| d.as_str()) {
            // A path into the value of an option, not an option.
            println!("    part of:     {p}");
            if let Some(v) = o.get("value").and_then(|d| d.as_str()) {
                println!(
                    "    value:       {}",
                    v.replace('\n', "\n                 ")
                );
            }
            println!("    defined in:  {}", strings(&o["definitions"]).join(", "));
            println!();
            continue;
        }
        println!("    type:        {}", o["type"].as_str().unwrap_or(""));
        if let Some(d) = o.get("default").and_then(|d| d.as_str()) {
            println!("    default:     {d}");
        }
        if let Some(e) = o.get("example").and_then(|d| d.as_str()) {
            println!("    example:     {e}");
        }
        if let Some(d) = o.get("description").and_then(|d| d.as_str()) {
            println!("    description: {d}");
        }
        if let Some(v) = o.get("value").and_then(|d| d.as_str()) {
            println!(
                "    value:       {}",
                v.replace('\n', "\n                 ")
            );
        }
        println!(
            "    declared in: {}",
            strings(&o["declarations"]).join(", ")
        );
        if o.get("definitions").is_some() {
            println!("    defined in:  {}", strings(&o["definitions"]).join(", "));
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

/// The strings of a JSON list (none for anything else).
fn strings(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default()
}
