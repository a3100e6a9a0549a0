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
    #[arg(long, value_name = "DIR", default_value = "/")]
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
}

/// `YYYY-MM-DD HH:MM` (UTC) of seconds since the epoch.
fn date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let (h, m) = ((secs % 86400) / 3600, (secs % 3600) / 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}")
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
        date: date(g.created),
        toplevel: g.toplevel.clone(),
        label,
        kernel_version,
        current: g.current,
        booted: g.booted,
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
            profile::delete(&root, &doomed)?;
            for n in &doomed {
                println!("deleted generation {n}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::date(0), "1970-01-01 00:00");
        assert_eq!(super::date(1_795_257_000), "2026-11-21 10:30");
        assert_eq!(super::date(951_782_400), "2000-02-29 00:00");
    }
}
