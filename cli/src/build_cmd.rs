//! `strata build`: evaluate a configuration, build its toplevel, link `result` to it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;
use strata_builder::debian::lock::LockFile;
use strata_builder::debian::mirror::debian_mirror;
use strata_builder::eval_io::Pure;
use strata_builder::scheduler::SchedulerOptions;
use strata_builder::sources::{FoundLock, LockOrigin};
use strata_builder::system::{build_system, BuildElsewhere, StrataSelf, SystemInputs};
use strata_store::{LocalStore, StorePath};

#[derive(Debug, Args)]
#[command(mut_arg("out_link", |a| a.help("Where to link the toplevel (a GC root)")))]
pub struct BuildArgs {
    #[command(flatten)]
    pub target: LinkedBuild,
    /// Do not make the link; print the toplevel's path only.
    #[arg(long, conflicts_with = "out_link")]
    pub no_out_link: bool,
}

/// A system to build and the link (a GC root) to make to what is built: `strata build`'s and
/// `strata build-vm`'s arguments (each command says what the link points to).
#[derive(Debug, Args)]
pub struct LinkedBuild {
    #[command(flatten)]
    pub inputs: BuildInputs,
    /// Where to link the result.
    #[arg(
        short = 'o',
        long = "out-link",
        value_name = "LINK",
        default_value = "result"
    )]
    pub out_link: PathBuf,
}

/// What a system is built from, and how.
#[derive(Debug, Args)]
pub struct BuildInputs {
    /// The configuration [default: ./configuration.nix, then /etc/strata/configuration.nix].
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Build the machine NAME of a flake (`outputs.strataConfigurations.NAME`; without
    /// `#NAME`, the one named like this host) instead of a configuration file.
    #[arg(long, value_name = "REF#NAME", conflicts_with = "file")]
    pub flake: Option<String>,
    /// Let the flake's evaluation read the host's files and environment variables (a flake
    /// is evaluated purely otherwise, as Nix does).
    #[arg(long, requires = "flake")]
    pub impure: bool,
    #[command(flatten)]
    pub overrides: crate::flake_cmd::OverrideInputs,
    /// The lock file pinning the packages [default: strata.lock beside the configuration, else
    /// strata's own].
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// How many builds run at once [default: the number of CPUs].
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Keep building what does not depend on a failed build.
    #[arg(short, long)]
    pub keep_going: bool,
    /// Kill a build that runs longer than this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    #[command(flatten)]
    pub substitute: crate::substitute_args::SubstituteArgs,
    /// Base URL of the Debian archive packages are fetched from [env: STRATA_DEBIAN_MIRROR]
    /// [default: from the apt sources].
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
}

/// The configuration file: [`strata_builder::config::configuration_file`]'s rule (`-f`, else
/// `$STRATA_CONFIG`, else `./configuration.nix`, else `/etc/strata/configuration.nix`).
pub fn configuration_file(flag: Option<PathBuf>) -> Result<PathBuf> {
    Ok(strata_builder::config::configuration_file(flag.as_deref())?)
}

/// Where the lock file is: the flag, else `strata.lock` beside the configuration, else
/// strata's own ([`strata_builder::sources::find_lock`]).
pub fn lock_path(flag: Option<PathBuf>, configuration: &Path) -> Result<FoundLock> {
    Ok(strata_builder::sources::find_lock(
        flag.as_deref(),
        configuration,
    )?)
}

/// The lock file ([`lock_path`]), read, with its path; one line on standard error when it is
/// strata's own.
pub fn read_lock(flag: Option<PathBuf>, configuration: &Path) -> Result<(LockFile, PathBuf)> {
    let found = lock_path(flag, configuration)?;
    let path = &found.path;
    if found.origin == LockOrigin::Strata {
        eprintln!(
            "no strata.lock beside {}: using strata's own, {}",
            configuration.display(),
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the lock file '{}' (make one with `strata lock update -o {}`)",
            path.display(),
            path.display()
        )
    })?;
    let lock = LockFile::parse(&text).with_context(|| format!("in {}", path.display()))?;
    Ok((lock, found.path))
}

pub fn build(args: BuildArgs, root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    let store = crate::open_store(root, store_dir)?;
    let out_link = (!args.no_out_link).then_some(args.target.out_link.as_path());
    let toplevel = build_system_of(args.target.inputs, &store, out_link, &[])?;
    println!("{}", store.print(&toplevel));
    Ok(ExitCode::SUCCESS)
}

/// Evaluates and builds the configuration `args` name into `store`, with strata's modules
/// `profiles` besides it (see [`SystemInputs::profiles`]); returns the toplevel.
pub fn build_system_of(
    args: BuildInputs,
    store: &LocalStore,
    out_link: Option<&Path>,
    profiles: &[&str],
) -> Result<StorePath> {
    build_system_with(args, store, out_link, profiles, None)
}

/// [`build_system_of`], with the builds made `elsewhere` (`--build-host`) when given.
pub fn build_system_with(
    args: BuildInputs,
    store: &LocalStore,
    out_link: Option<&Path>,
    profiles: &[&str],
    elsewhere: Option<&BuildElsewhere<'_>>,
) -> Result<StorePath> {
    let mut args = args;
    // Kept until the build is done: the flake's machine as a configuration file.
    let flake = args.flake.take();
    let flake = crate::flake_cmd::use_flake(&mut args, flake.as_deref(), store)?;
    let pure = flake.as_ref().and_then(|f| f.pure.as_ref());
    build_prepared(args, pure, store, out_link, profiles, elsewhere)
}

/// Builds what `args` name, once `--flake` was made a configuration file (by
/// [`crate::flake_cmd::use_flake`]), evaluated purely when `pure` is given.
pub fn build_prepared(
    args: BuildInputs,
    pure: Option<&Pure>,
    store: &LocalStore,
    out_link: Option<&Path>,
    profiles: &[&str],
    elsewhere: Option<&BuildElsewhere<'_>>,
) -> Result<StorePath> {
    let configuration = configuration_file(args.file)?;
    let (lock, lock_file) = read_lock(args.lock, &configuration)?;
    let me = StrataSelf::locate()?;
    let mut opts = SchedulerOptions {
        jobs: args.jobs.unwrap_or(0),
        keep_going: args.keep_going,
        progress: Some(Arc::new(crate::realise_cmd::progress_printer(
            store.store_dir().clone(),
        ))),
        ..Default::default()
    };
    opts.build.timeout = args.timeout.map(std::time::Duration::from_secs);
    args.substitute.apply(&mut opts, store.store_dir())?;
    // Needed only when a package must be fetched; without an archive, that fetch names the
    // problem.
    opts.build.debian_mirror =
        debian_mirror(args.mirror.as_deref(), &lock.architecture, Path::new("/"))
            .ok()
            .flatten();
    let inputs = SystemInputs {
        configuration: &configuration,
        lock: &lock,
        lock_file: Some(&lock_file),
        strata: &me,
        out_link,
        profiles,
        build_elsewhere: elsewhere,
        pure,
    };
    let built = build_system(store.root(), store.store_dir(), &inputs, &opts)?;
    for w in &built.warnings {
        eprintln!("warning: {w}");
    }
    if built.built == 0 && built.substituted == 0 {
        eprintln!("nothing to build: the toplevel is up to date");
    }
    Ok(built.toplevel)
}
