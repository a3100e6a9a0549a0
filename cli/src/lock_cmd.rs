//! `strata lock ...`: pin a Debian suite in `strata.lock` and fetch what it pins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use strata_builder::debian::archive::{
    add_digest, ensure_digest, fetch_debs, update_lock, Archive,
};
use strata_builder::debian::digest::{split, DigestRecord};
use strata_builder::debian::lock::LockFile;
use strata_builder::fetch::{human_size, Progress};

/// The architecture strata builds for.
const ARCH: &str = "amd64";

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Pin the suite as the archive has it now: fetch its indexes, choose every package's
    /// dependencies, and write the lock file (and the digest into the store).
    Update(UpdateArgs),
    /// Put the lock's digest into the store (made from the pinned indexes if needed) and,
    /// for each PACKAGE named, fetch the `.deb`s of it and its dependencies; print the store
    /// paths.
    Fetch(FetchArgs),
}

/// Where the archive is. Without flags: `STRATA_DEBIAN_MIRROR`, then the host's apt sources.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Base URL of the Debian archive (http://, https:// or file://)
    /// [env: STRATA_DEBIAN_MIRROR] [default: from the apt sources].
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// The suite to pin [default: from the apt sources].
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
    /// Where to write the lock file.
    #[arg(short, long, value_name = "FILE", default_value = "strata.lock")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// The lock file to read.
    #[arg(short, long, value_name = "FILE", default_value = "strata.lock")]
    pub file: PathBuf,
    /// Packages whose `.deb`s (with their dependencies') to fetch.
    #[arg(value_name = "PACKAGE")]
    pub packages: Vec<String>,
}

pub fn run(cmd: LockCommand, store_root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    match cmd {
        LockCommand::Update(args) => update(args, store_root, store_dir),
        LockCommand::Fetch(args) => fetch(args, store_root, store_dir),
    }
}

fn update(args: UpdateArgs, store_root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    let archive = Archive::configure(
        args.archive.mirror.as_deref(),
        args.suite.as_deref(),
        ARCH,
        Path::new("/"),
    )?;
    // A lock that is there must be one strata wrote (or an old format, which is replaced).
    match std::fs::read_to_string(&args.output) {
        Ok(text) => {
            if let Err(e) = LockFile::parse(&text) {
                if !text.lines().any(|l| l == "format strata-lock 1") {
                    return Err(e).with_context(|| {
                        format!(
                            "{} is not a strata lock file; not replacing it",
                            args.output.display()
                        )
                    });
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", args.output.display())),
    }
    let (lock, digest) = update_lock(&archive)?;
    let mut store = crate::open_store(store_root, store_dir)?;
    add_digest(&mut store, &lock, &digest)?;
    strata_store::local::write_atomic(&args.output, lock.to_text().as_bytes())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let text = String::from_utf8_lossy(&digest);
    let lines = split(&text)?;
    let mut by_component: BTreeMap<String, usize> = BTreeMap::new();
    for (_, line) in &lines.records {
        let r: DigestRecord = serde_json::from_str(line)?;
        *by_component.entry(r.component).or_default() += 1;
    }
    let counts: Vec<String> = by_component
        .iter()
        .map(|(c, n)| format!("{n} in {c}"))
        .collect();
    println!(
        "{}: {} from {} {} ({})",
        args.output.display(),
        packages_text(lines.records.len()),
        archive.suite,
        archive.arch,
        counts.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn fetch(args: FetchArgs, store_root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let lock = LockFile::parse(&text).with_context(|| format!("in {}", args.file.display()))?;
    let mirror = args.archive.mirror.clone();
    let configure = || {
        Archive::configure(
            mirror.as_deref(),
            Some(&lock.suite),
            &lock.architecture,
            Path::new("/"),
        )
    };
    let mut store = crate::open_store(store_root, store_dir)?;
    let dir = store.store_dir().clone();
    let digest_path = ensure_digest(&mut store, &lock, configure)?;
    println!("{}", dir.display(&digest_path));
    if args.packages.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let digest = std::fs::read_to_string(store.real_path(&digest_path))?;
    let lines = split(&digest)?;
    let records: BTreeMap<&str, &str> = lines.records.iter().copied().collect();
    // The closure of the named packages, in name order.
    let mut wanted: BTreeMap<String, DigestRecord> = BTreeMap::new();
    let mut todo: Vec<String> = args.packages.clone();
    while let Some(name) = todo.pop() {
        if wanted.contains_key(&name) {
            continue;
        }
        let Some(line) = records.get(name.as_str()) else {
            bail!("{} pins no package called {name}", args.file.display());
        };
        let r: DigestRecord = serde_json::from_str(line)?;
        if let Some(why) = &r.broken {
            bail!("{name} cannot be used: {why}");
        }
        todo.extend(r.depends.iter().cloned());
        wanted.insert(name, r);
    }
    let closure: Vec<DigestRecord> = wanted.into_values().collect();
    let archive = configure()?;
    let mut downloaded = 0usize;
    let fetched = fetch_debs(&mut store, &archive, &closure, Progress::Terminal, |f| {
        downloaded += usize::from(f.downloaded);
        println!("{}", dir.display(&f.info.path));
    })?;
    let total: u64 = closure.iter().map(|r| r.size).sum();
    eprintln!(
        "{} ({}) in the store, {} downloaded",
        packages_text(fetched.len()),
        human_size(total),
        downloaded
    );
    Ok(ExitCode::SUCCESS)
}

fn packages_text(n: usize) -> String {
    if n == 1 {
        "1 package".to_owned()
    } else {
        format!("{n} packages")
    }
}
