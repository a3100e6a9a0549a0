//! `strata shell`: a development shell of Debian packages, without root.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use strata_builder::debian::lock::LockFile;
use strata_builder::debian::mirror::debian_mirror;
use strata_builder::scheduler::{Progress, SchedulerOptions};
use strata_builder::shell::{self, Action, AutoArg, EnterOptions, ShellRequest, ShellSource};

#[derive(Debug, Args)]
#[command(after_help = "\
Without -p, the shell is read from FILE (a file, or a directory with shell.nix or \
default.nix), else ./shell.nix, else ./default.nix, written as for nix-shell: \
`{ pkgs ? import <nixpkgs> { } }: pkgs.mkShell { packages = [ pkgs.jq ]; }`; <strata> and \
<nixpkgs> are the package set of the lock beside it (else strata's own). Else, as nix \
develop, the shell `devShells.<system>.default` of ./flake.nix; --flake REF#NAME names a \
flake's shell `devShells.<system>.NAME`, written as a shell.nix is (a function of pkgs, or a \
path to such a file); it uses strata's own lock unless --lock.

--pure keeps only HOME, USER, LOGNAME, TERM, TZ, PAGER, SHLVL, DISPLAY, WAYLAND_DISPLAY, \
XAUTHORITY, XDG_RUNTIME_DIR, the proxy variables (http_proxy, https_proxy, ftp_proxy, \
all_proxy, no_proxy, and in capitals) and those named by --keep.")]
pub struct ShellArgs {
    /// The shell's file, or a directory holding shell.nix or default.nix.
    #[arg(value_name = "FILE", conflicts_with_all = ["packages", "flake"])]
    file: Option<PathBuf>,
    /// The shell `devShells.<system>.NAME` of a flake (without `#NAME`, `default`).
    #[arg(long, value_name = "REF#NAME", conflicts_with = "packages")]
    flake: Option<String>,
    /// Let the flake's evaluation read the host's files and environment variables (it is
    /// pure otherwise).
    #[arg(long)]
    impure: bool,
    /// Packages of the pinned suite to have in the shell (attribute paths such as jq or
    /// python3Packages.numpy).
    #[arg(short = 'p', long = "packages", value_name = "NAME", num_args = 1..)]
    packages: Vec<String>,
    /// Run CMD with bash in the shell (after shellHook) and exit with its status.
    #[arg(long, value_name = "CMD", conflicts_with = "command")]
    run: Option<String>,
    /// Run CMD in an interactive bash in the shell, then exit (unless CMD ends with `return`).
    #[arg(long, value_name = "CMD")]
    command: Option<String>,
    /// Keep only a few of the caller's environment variables (see below).
    #[arg(long)]
    pure: bool,
    /// With --pure, keep this variable too.
    #[arg(long, value_name = "VAR")]
    keep: Vec<String>,
    /// Pass the Nix value EXPR as argument NAME to the shell file's function.
    #[arg(long = "arg", num_args = 2, value_names = ["NAME", "EXPR"], action = clap::ArgAction::Append)]
    arg: Vec<String>,
    /// Pass the string VALUE as argument NAME to the shell file's function.
    #[arg(long = "argstr", num_args = 2, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append)]
    argstr: Vec<String>,
    /// The lock file pinning the packages [default: strata.lock beside the shell file (for -p,
    /// in the current directory), else strata's own].
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,
    /// Base URL of the Debian archive packages are fetched from [env: STRATA_DEBIAN_MIRROR]
    /// [default: from the apt sources].
    #[arg(long, value_name = "URL")]
    mirror: Option<String>,
    /// How many builds run at once [default: the number of CPUs].
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    #[command(flatten)]
    substitute: crate::substitute_args::SubstituteArgs,
}

/// The shell file `flag` names (a file, or a directory with shell.nix or default.nix), else
/// the current directory's.
fn shell_file(flag: Option<PathBuf>) -> Result<PathBuf> {
    let given = flag.is_some();
    let place = flag.unwrap_or_else(|| PathBuf::from("."));
    let file = if place.is_dir() {
        let shell = place.join("shell.nix");
        if shell.is_file() {
            shell
        } else {
            let default = place.join("default.nix");
            if !default.is_file() {
                if given {
                    bail!(
                        "'{}' has neither shell.nix nor default.nix",
                        place.display()
                    );
                }
                bail!(
                    "there is no shell.nix or default.nix here: name packages with -p NAME..., \
                     or a shell file"
                );
            }
            default
        }
    } else if place.is_file() {
        place
    } else {
        bail!("the shell file '{}' does not exist", place.display());
    };
    file.canonicalize()
        .with_context(|| format!("failed to resolve '{}'", file.display()))
}

fn pairs(flat: &[String], make: fn(String) -> AutoArg) -> Vec<(String, AutoArg)> {
    flat.chunks(2)
        .filter_map(|c| match c {
            [name, value] => Some((name.clone(), make(value.clone()))),
            _ => None,
        })
        .collect()
}

/// Whether a shell comes from a flake: `--flake`, or (as `nix develop`) ./flake.nix when
/// neither -p, a FILE, ./shell.nix nor ./default.nix names one.
fn flake_of(args: &ShellArgs) -> Option<String> {
    if let Some(f) = &args.flake {
        return Some(f.clone());
    }
    let here = Path::new(".");
    let implicit = args.packages.is_empty()
        && args.file.is_none()
        && !here.join("shell.nix").is_file()
        && !here.join("default.nix").is_file()
        && here.join("flake.nix").is_file();
    implicit.then(|| ".".to_owned())
}

pub fn shell(args: ShellArgs, root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    let store = crate::open_store(root, store_dir)?;
    let flake = match flake_of(&args) {
        Some(text) => {
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            let f = strata_builder::flake::machine::flake_shell(
                store.root(),
                store.store_dir(),
                &text,
                &cwd,
                args.impure,
            )
            .with_context(|| format!("cannot use the flake {text}"))?;
            for w in &f.flake.warnings {
                eprintln!("warning: {w}");
            }
            Some(f)
        }
        None if args.impure => bail!("--impure is for a flake's shell (--flake, or ./flake.nix)"),
        None => None,
    };
    let (source, lock_anchor) = if let Some(f) = &flake {
        (ShellSource::File(f.file.clone()), f.file.clone())
    } else if args.packages.is_empty() {
        let file = shell_file(args.file)?;
        (ShellSource::File(file.clone()), file)
    } else {
        // -p: the lock beside the current directory's (would-be) shell.nix.
        let here = std::env::current_dir().context("cannot read the current directory")?;
        (ShellSource::Packages(args.packages), here.join("shell.nix"))
    };
    for name in args.arg.chunks(2).chain(args.argstr.chunks(2)) {
        if !name[0]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '\''))
            || name[0].is_empty()
        {
            bail!("--arg/--argstr: '{}' is not an argument name", name[0]);
        }
    }
    let mut auto_args = pairs(&args.arg, AutoArg::Expr);
    auto_args.extend(pairs(&args.argstr, AutoArg::Str));

    // A flake's shell: --lock, else its package-set input's, else strata's own.
    let named = match &flake {
        Some(f) => Some(crate::flake_cmd::lock_for(
            args.lock.clone(),
            &f.flake,
            &store,
        )?),
        None => args.lock.clone(),
    };
    let found = strata_builder::sources::find_lock(named.as_deref(), &lock_anchor)?;
    let text = std::fs::read_to_string(&found.path)
        .with_context(|| format!("cannot read the lock file '{}'", found.path.display()))?;
    let lock = LockFile::parse(&text).with_context(|| format!("in {}", found.path.display()))?;
    let modules = strata_builder::config::modules_dir().context(
        "cannot find strata's module library (modules/): set STRATA_MODULES to its directory",
    )?;

    let store_dir_value = store.store_dir().clone();
    let mut opts = SchedulerOptions {
        jobs: args.jobs.unwrap_or(0),
        // Only what is built is worth a line: a warm shell starts silently.
        progress: Some(Arc::new(move |p: &Progress<'_>| match p {
            Progress::Started { drv } => eprintln!("building {}", store_dir_value.display(drv)),
            Progress::Failed { drv, .. } => {
                eprintln!("build of {} failed", store_dir_value.display(drv))
            }
            _ => {}
        })),
        ..Default::default()
    };
    // Packages (and the shell's tree) come from the binary caches when they have them.
    args.substitute.apply(&mut opts, store.store_dir())?;
    opts.build.debian_mirror =
        debian_mirror(args.mirror.as_deref(), &lock.architecture, Path::new("/"))
            .ok()
            .flatten();
    let request = ShellRequest {
        source,
        auto_args,
        lock: &lock,
        lock_file: &found.path,
        modules: &modules,
        pure: flake.as_ref().and_then(|f| f.pure.as_ref()),
    };
    let prepared = shell::prepare(store.root(), store.store_dir(), &request, &opts)?;
    // What was substituted is summed up before the shell starts, not after it ends.
    drop(opts);
    let action = match (args.run, args.command) {
        (Some(cmd), _) => Action::Run(cmd),
        (None, Some(cmd)) => Action::Command(cmd),
        (None, None) => Action::Interactive,
    };
    let status = shell::enter(
        &prepared,
        &EnterOptions {
            action,
            pure: args.pure,
            keep: args.keep,
        },
    )?;
    drop(prepared);
    Ok(ExitCode::from(u8::try_from(status).unwrap_or(u8::MAX)))
}
