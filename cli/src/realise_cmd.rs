//! `strata realise` (like `nix-store --realise`) and `strata log` (like `nix-store --read-log`).

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use strata_builder::scheduler::{realise_all, Progress, SchedulerOptions};
use strata_store::{LocalStore, StoreDir, StorePath};

#[derive(Debug, Args)]
pub struct RealiseArgs {
    /// `.drv` paths to build (`DRV!OUT,...` selects outputs); a valid non-derivation path is
    /// printed as it is.
    #[arg(required = true, value_name = "DRV")]
    pub paths: Vec<String>,
    /// How many builds run at once [default: the number of CPUs].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Keep building what does not depend on a failed build.
    #[arg(short, long)]
    pub keep_going: bool,
    /// Make LINK a symlink to the first output and register it as a GC root (further outputs
    /// get LINK-2, LINK-3, ...).
    #[arg(long, value_name = "LINK")]
    pub add_root: Option<PathBuf>,
    /// Kill a build that runs longer than this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    #[command(flatten)]
    pub substitute: crate::substitute_args::SubstituteArgs,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// A `.drv` path or an output path of a built derivation.
    #[arg(value_name = "PATH")]
    pub path: String,
}

/// One command-line argument: a store path and, for `DRV!OUT`, the chosen outputs.
struct Target {
    path: StorePath,
    outputs: Option<BTreeSet<String>>,
}

fn parse_targets(store: &LocalStore, args: &[String]) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    for a in args {
        let (p, outs) = match a.split_once('!') {
            Some((p, o)) => (
                p.to_owned(),
                Some(o.split(',').map(str::to_owned).collect::<BTreeSet<_>>()),
            ),
            None => (a.clone(), None),
        };
        let path = crate::store_cmd::parse_paths(store, std::slice::from_ref(&p))?
            .into_iter()
            .next()
            .context("no path")?;
        out.push(Target {
            path,
            outputs: outs,
        });
    }
    Ok(out)
}

pub(crate) fn progress_printer(store_dir: StoreDir) -> impl Fn(&Progress<'_>) + Send + Sync {
    move |p: &Progress<'_>| {
        let line = match p {
            Progress::Skipped { drv } => format!("{}: skipped (valid)", store_dir.display(drv)),
            Progress::Started { drv } => format!("building {}", store_dir.display(drv)),
            Progress::Finished { drv, .. } => format!("built {}", store_dir.display(drv)),
            Progress::Failed { drv, .. } => format!("build of {} failed", store_dir.display(drv)),
            Progress::DependencyFailed { drv, failed } => format!(
                "not building {}: dependency {} failed",
                store_dir.display(drv),
                store_dir.display(failed)
            ),
        };
        eprintln!("{line}");
    }
}

pub fn realise(args: RealiseArgs, root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    let mut store = crate::open_store(root, store_dir)?;
    let targets = parse_targets(&store, &args.paths)?;
    let substituter = args.substitute.substituter(store.store_dir())?;
    let tally = Arc::new(crate::substitute_args::Tally::new(
        store.store_dir().clone(),
    ));
    let mut drvs = Vec::new();
    for t in &targets {
        if t.path.name().ends_with(".drv") {
            drvs.push(t.path.clone());
        } else {
            if t.outputs.is_some() {
                bail!("'{}' is not a derivation", store.print(&t.path));
            }
            if !store.is_valid(&t.path)? {
                if let Some(sub) = &substituter {
                    sub.substitute(&mut store, std::slice::from_ref(&t.path), &|e| {
                        tally.record(&e)
                    })?;
                }
            }
            if !store.is_valid(&t.path)? {
                bail!(
                    "path '{}' is not valid, is not a derivation, and no binary cache gave it",
                    store.print(&t.path)
                );
            }
        }
    }
    let mut opts = SchedulerOptions {
        jobs: args.jobs.unwrap_or(0),
        keep_going: args.keep_going,
        progress: Some(Arc::new(progress_printer(store.store_dir().clone()))),
        ..Default::default()
    };
    opts.build.timeout = args.timeout.map(std::time::Duration::from_secs);
    opts.substituter = substituter;
    if opts.substituter.is_some() {
        let tally = Arc::clone(&tally);
        opts.on_substitute = Some(Arc::new(move |e: &strata_store::cache::Event<'_>| {
            tally.record(e)
        }));
    }
    // `mirror://debian/` URLs of builtin:fetchurl resolve against the configured archive.
    // Needed only when a package must be fetched; without an archive, that fetch names the
    // problem.
    opts.build.debian_mirror = strata_builder::debian::mirror::debian_mirror(
        None,
        strata_builder::debian::mirror::HOST_ARCH,
        Path::new("/"),
    )
    .ok()
    .flatten();
    let built = realise_all(store.root(), store.store_dir(), &drvs, &opts);
    tally.finish();
    let built = built?;

    let mut paths: Vec<StorePath> = Vec::new();
    for t in &targets {
        let Some(outs) = built.get(&t.path) else {
            paths.push(t.path.clone());
            continue;
        };
        if let Some(want) = &t.outputs {
            for o in want {
                if !outs.contains_key(o) {
                    bail!("derivation '{}' has no output '{o}'", store.print(&t.path));
                }
            }
        }
        for (name, p) in outs {
            if t.outputs.as_ref().is_none_or(|w| w.contains(name)) {
                paths.push(p.clone());
            }
        }
    }
    let mut stdout = io::stdout().lock();
    for (i, p) in paths.iter().enumerate() {
        match &args.add_root {
            Some(link) => {
                let link = if i == 0 {
                    link.clone()
                } else {
                    let mut s = link.clone().into_os_string();
                    s.push(format!("-{}", i + 1));
                    PathBuf::from(s)
                };
                store
                    .add_indirect_root(&link, p)
                    .with_context(|| format!("cannot add the GC root '{}'", link.display()))?;
                writeln!(stdout, "{}", std::path::absolute(&link)?.display())?;
            }
            None => writeln!(stdout, "{}", store.print(p))?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn log(args: LogArgs, root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    let store = crate::open_store(root, store_dir)?;
    let path = crate::store_cmd::parse_paths(&store, std::slice::from_ref(&args.path))?
        .into_iter()
        .next()
        .context("no path")?;
    let drv = if path.name().ends_with(".drv") {
        path
    } else {
        let info = store
            .path_info(&path)?
            .with_context(|| format!("path '{}' is not valid", store.print(&path)))?;
        info.deriver.with_context(|| {
            format!(
                "path '{}' was not built by strata (it has no deriver)",
                store.print(&path)
            )
        })?
    };
    let file = strata_builder::build::log_path(&store, &drv);
    let data = match fs::read(&file) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("build log of '{}' is not available", store.print(&drv))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read '{}'", file.display())),
    };
    let mut stdout = io::stdout().lock();
    stdout.write_all(&data)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
