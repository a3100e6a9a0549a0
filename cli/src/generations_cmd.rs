//! `strata generations list|delete`: the system profile's generations (like
//! `nixos-rebuild list-generations` and `nix-env --delete-generations`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use serde::Serialize;
use strata_activate::profile::{self, GenerationInfo};

#[derive(Debug, Subcommand)]
pub enum GenerationsCommand {
    /// Every generation: number, date, label, kernel, and which is current and booted.
    List(ListArgs),
    /// Delete generations (never the current one); their store paths become garbage.
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub struct RootArg {
    /// The machine's root directory (an image being made, or a mounted disk).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        env = "STRATA_MACHINE_ROOT"
    )]
    pub root: PathBuf,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub root: RootArg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Generation numbers.
    #[arg(value_name = "N")]
    pub numbers: Vec<u32>,
    /// Delete those older than this (`30d`, `12h`, or seconds).
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    number: u32,
    date: String,
    toplevel: String,
    label: String,
    kernel_version: String,
    current: bool,
    booted: bool,
    /// The running system is this generation (`/run/current-system`): after a `test`, or
    /// during a switch that waits for `strata confirm`, it can be none of them.
    active: bool,
}

fn row(root: &Path, g: &GenerationInfo) -> Row {
    let top = strata_activate::resolve(root, &g.toplevel);
    let label = std::fs::read_to_string(top.join("boot.json"))
        .ok()
        .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
        .and_then(|v| {
            v["org.nixos.bootspec.v1"]["label"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let kernel_version = std::fs::read_to_string(top.join("kernel-version"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    Row {
        number: g.number,
        date: profile::format_date(g.created),
        toplevel: g.toplevel.clone(),
        label,
        kernel_version,
        current: g.current,
        booted: g.booted,
        active: std::fs::read_link(root.join("run/current-system"))
            .is_ok_and(|t| t.as_os_str() == std::ffi::OsStr::new(&g.toplevel)),
    }
}

pub fn run(cmd: GenerationsCommand) -> Result<ExitCode> {
    match cmd {
        GenerationsCommand::List(a) => {
            let root = a.root.root;
            let rows: Vec<Row> = profile::list(&root)?
                .iter()
                .map(|g| row(&root, g))
                .collect();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &rows {
                    let mut marks = String::new();
                    if r.current {
                        marks.push_str(" (current)");
                    }
                    if r.booted {
                        marks.push_str(" (booted)");
                    }
                    if r.active && !r.current {
                        marks.push_str(" (running)");
                    }
                    println!(
                        "{:>4}  {}  {:<16} {:<18}{marks}",
                        r.number, r.date, r.label, r.kernel_version
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        GenerationsCommand::Delete(a) => {
            let root = a.root.root;
            let age = match &a.older_than {
                Some(s) => Some(profile::parse_age(s).ok_or_else(|| {
                    anyhow::anyhow!("--older-than {s}: give an age like 30d, 12h or 3600")
                })?),
                None => None,
            };
            if a.numbers.is_empty() && age.is_none() {
                bail!("name the generations to delete, or give --older-than");
            }
            let gens = profile::list(&root)?;
            let doomed = profile::to_delete(&gens, &a.numbers, age, SystemTime::now())?;
            strata_activate::switch::delete_generations(&root, &doomed)?;
            for n in &doomed {
                println!("deleted generation {n}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
