//! `strata lock ...`: pin Debian packages in `strata.lock` and fetch what it pins.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use strata_builder::debian::archive::{fetch_locked, update_lock, Archive, BASE_PACKAGES};
use strata_builder::debian::lock::LockFile;
use strata_builder::fetch::{human_size, Progress};

/// The architecture strata builds for.
const ARCH: &str = "amd64";

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Resolve packages over the archive's index and write the lock file.
    Update(UpdateArgs),
    /// Fetch every package the lock file pins into the store and print the store paths.
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
    /// The suite to resolve in [default: from the apt sources].
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
    /// Where to write the lock file.
    #[arg(short, long, value_name = "FILE", default_value = "strata.lock")]
    pub output: PathBuf,
    /// Packages to pin, with their dependencies, besides those the lock file already pins
    /// (a new lock starts from the kernel, busybox-static, tzdata, systemd-boot-efi,
    /// grub-efi-amd64-bin, grub-pc-bin and ovmf).
    #[arg(value_name = "PACKAGE")]
    pub packages: Vec<String>,
    /// Pin only the packages named (or the defaults), dropping what the lock file pins.
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// The lock file to read.
    #[arg(short, long, value_name = "FILE", default_value = "strata.lock")]
    pub file: PathBuf,
}

pub fn run(cmd: LockCommand, store_root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    match cmd {
        LockCommand::Update(args) => update(args),
        LockCommand::Fetch(args) => fetch(args, store_root, store_dir),
    }
}

fn update(args: UpdateArgs) -> Result<ExitCode> {
    let archive = Archive::configure(
        args.archive.mirror.as_deref(),
        args.suite.as_deref(),
        ARCH,
        Path::new("/"),
    )?;
    let existing = match std::fs::read_to_string(&args.output) {
        Ok(text) => {
            Some(LockFile::parse(&text).with_context(|| format!("in {}", args.output.display()))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", args.output.display())),
    };
    let packages = strata_builder::sources::update_roots(
        existing.as_ref(),
        &args.packages,
        BASE_PACKAGES,
        args.replace,
    );
    let lock = update_lock(&archive, &packages)?;
    strata_store::local::write_atomic(&args.output, lock.to_text().as_bytes())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let total: u64 = lock.packages.iter().map(|p| p.size).sum();
    println!(
        "{}: {} from {} {}, {} in all",
        args.output.display(),
        packages_text(lock.packages.len()),
        archive.suite,
        archive.arch,
        human_size(total)
    );
    Ok(ExitCode::SUCCESS)
}

fn fetch(args: FetchArgs, store_root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let lock = LockFile::parse(&text).with_context(|| format!("in {}", args.file.display()))?;
    let archive = Archive::configure(
        args.archive.mirror.as_deref(),
        Some(&lock.suite),
        &lock.architecture,
        Path::new("/"),
    )?;
    let mut store = crate::open_store(store_root, store_dir)?;
    let dir = store.store_dir().clone();
    let mut downloaded = 0usize;
    let fetched = fetch_locked(&mut store, &archive, &lock, Progress::Terminal, |f| {
        downloaded += usize::from(f.downloaded);
        println!("{}", dir.display(&f.info.path));
    });
    let fetched = fetched?;
    eprintln!(
        "{} in the store, {} downloaded",
        packages_text(fetched.len()),
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
