//! `strata image`: build a configuration's system and write it as a disk image (raw GPT or
//! qcow2) or a rootfs tarball. `strata build-vm`: the same as a virtual machine to boot.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use strata_images::assemble::{build_image, Format, ImageSpec};

use strata_builder::flake::FlakeConfiguration;
use strata_store::LocalStore;

use crate::build_cmd::{build_prepared, configuration_file, lock_path, BuildInputs, LinkedBuild};

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(flatten)]
    pub inputs: BuildInputs,
    /// raw (a GPT disk that boots on UEFI, and on BIOS with GRUB), qcow2, or tar (zstd).
    #[arg(long, value_name = "FORMAT")]
    pub format: Format,
    /// The disk's size (`8G`, `2048M`), or `auto`: the system's files plus --free.
    #[arg(long, value_name = "SIZE", default_value = "auto")]
    pub size: String,
    /// Free space on the root file system when the size is automatic.
    #[arg(long, value_name = "SIZE", default_value = "512M")]
    pub free: String,
    /// Where to write the image.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: PathBuf,
}

/// `512M`, `8G`, `1T`, `4096K` or bytes.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1u64 << 10),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        'G' | 'g' => (&s[..s.len() - 1], 1 << 30),
        'T' | 't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// What an image or a VM records in `/etc/strata/`, and the flake it is built from.
struct Sources {
    /// `--flake`: the machine made a configuration file; kept until the build is done.
    flake: Option<FlakeConfiguration>,
    /// Recorded as `configuration.nix`: the configuration file, or for a flake's machine a
    /// file naming the flake ([`FlakeConfiguration::record`]).
    configuration: PathBuf,
    /// Recorded as `strata.lock`, if it exists.
    lock: PathBuf,
}

/// The configuration (or the flake's machine) `inputs` name, ready to build, and what the
/// image records.
fn sources(mut inputs: BuildInputs, store: &LocalStore) -> Result<(BuildInputs, Sources)> {
    let flake = inputs.flake.take();
    let flake = crate::flake_cmd::use_flake(&mut inputs, flake.as_deref(), store)?;
    let (configuration, lock) = match &flake {
        Some(f) => (
            f.record()
                .context("cannot write the file that names the flake")?,
            lock_path(inputs.lock.clone(), &f.configuration)?.path,
        ),
        None => {
            let c = configuration_file(inputs.file.clone())?;
            let l = lock_path(inputs.lock.clone(), &c)?.path;
            (c, l)
        }
    };
    let src = Sources {
        flake,
        configuration,
        lock,
    };
    Ok((inputs, src))
}

pub fn image(args: ImageArgs, store_root: Option<PathBuf>, store_dir: &str) -> Result<ExitCode> {
    let size = match args.size.as_str() {
        "auto" => None,
        s => Some(
            parse_size(s)
                .with_context(|| format!("--size {s}: give auto or a size like 4G or 2048M"))?,
        ),
    };
    let free = parse_size(&args.free)
        .with_context(|| format!("--free {}: give a size like 512M", args.free))?;
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v} is not a number of seconds"))?,
        Err(_) => 1,
    };
    let store = crate::open_store(store_root, store_dir)?;
    let _hold = store.gc_hold()?;
    // An ISO holds the configuration's live variant (`profiles/live-iso.nix`).
    let profiles: &[&str] = if args.format == Format::Iso {
        &[strata_images::iso::LIVE_PROFILE]
    } else {
        &[]
    };
    let (inputs, src) = sources(args.inputs, &store)?;
    let toplevel = build_prepared(
        inputs,
        src.flake.as_ref().and_then(|f| f.pure.as_ref()),
        &store,
        None,
        profiles,
        None,
    )?;
    let (configuration, lock) = (&src.configuration, &src.lock);
    let report = build_image(&ImageSpec {
        store: &store,
        toplevel: &toplevel,
        configuration,
        lock: lock.is_file().then_some(lock.as_path()),
        format: args.format,
        size,
        free,
        epoch,
        out: &args.output,
    })
    .with_context(|| format!("failed to write the image {}", args.output.display()))?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "{}: {:.1} MiB, {} boot menu",
        args.output.display(),
        report.size as f64 / 1048576.0,
        report.boot_loader
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("512M"), Some(512 << 20));
        assert_eq!(super::parse_size("2g"), Some(2 << 30));
        assert_eq!(super::parse_size("4096"), Some(4096));
        assert_eq!(super::parse_size("lots"), None);
        assert_eq!(super::parse_size("99999999999T"), None);
    }
}

#[derive(Debug, Args)]
#[command(mut_arg("out_link", |a| a.help("Where to link the result (holding `bin/run-<hostname>-vm`)")))]
pub struct BuildVmArgs {
    #[command(flatten)]
    pub target: LinkedBuild,
    /// Free space on the machine's disk.
    #[arg(long, value_name = "SIZE", default_value = "1G")]
    pub free: String,
}

/// `strata build-vm`: the system as a qcow2 disk `<hostname>.qcow2` in the current
/// directory, and `result/bin/run-<hostname>-vm`, which boots it (the `nixos-rebuild
/// build-vm` of strata).
pub fn build_vm(
    args: BuildVmArgs,
    store_root: Option<PathBuf>,
    store_dir: &str,
) -> Result<ExitCode> {
    let free = parse_size(&args.free)
        .with_context(|| format!("--free {}: give a size like 1G", args.free))?;
    let mut store = crate::open_store(store_root, store_dir)?;
    let _hold = store.gc_hold()?;
    let (inputs, src) = sources(args.target.inputs, &store)?;
    let toplevel = build_prepared(
        inputs,
        src.flake.as_ref().and_then(|f| f.pure.as_ref()),
        &store,
        None,
        &[],
        None,
    )?;
    let (configuration, lock) = (&src.configuration, &src.lock);
    let dir = std::env::current_dir().context("cannot find the current directory")?;
    let vm = strata_images::vm::build_vm(strata_images::vm::VmSpec {
        store: &mut store,
        toplevel: &toplevel,
        configuration,
        lock: lock.is_file().then_some(lock.as_path()),
        free,
        dir: &dir,
        out_link: &args.target.out_link,
    })
    .context("failed to make the virtual machine")?;
    for w in &vm.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "{}: the disk of {} (from {}); boot it with ./{}/bin/run-{}-vm",
        vm.disk.display(),
        vm.host,
        store.print(&toplevel),
        args.target.out_link.display(),
        vm.host
    );
    if let Some(ssh) = &vm.ssh {
        eprintln!(
            "once it is up, log in with: {} (the launcher takes the next free port if that one \
             is busy, or STRATA_VM_SSH_PORT, and prints it)",
            ssh.command()
        );
    }
    println!("{}", store.print(&vm.launcher));
    Ok(ExitCode::SUCCESS)
}
