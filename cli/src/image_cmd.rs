//! `strata image`: build a configuration's system and write it as a disk image (raw GPT or
//! qcow2) or a rootfs tarball. `strata build-vm`: the same as a virtual machine to boot.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use strata_images::assemble::{build_image, Format, ImageSpec};

use crate::build_cmd::{build_system_of, configuration_file, lock_path, BuildInputs};

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

/// The configuration and the lock an image records in `/etc/strata/`.
fn sources(inputs: &BuildInputs) -> Result<(PathBuf, PathBuf)> {
    let configuration = configuration_file(inputs.file.clone())?;
    let lock = lock_path(inputs.lock.clone(), &configuration)?.path;
    Ok((configuration, lock))
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
    let (configuration, lock) = sources(&args.inputs)?;
    let store = crate::open_store(store_root, store_dir)?;
    let _hold = store.gc_hold()?;
    // An ISO holds the configuration's live variant (`profiles/live-iso.nix`).
    let profiles: &[&str] = if args.format == Format::Iso {
        &[strata_images::iso::LIVE_PROFILE]
    } else {
        &[]
    };
    let toplevel = build_system_of(args.inputs, &store, None, profiles)?;
    let report = build_image(&ImageSpec {
        store: &store,
        toplevel: &toplevel,
        configuration: &configuration,
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
pub struct BuildVmArgs {
    #[command(flatten)]
    pub inputs: BuildInputs,
    /// Where to link the result (holding `bin/run-<hostname>-vm`).
    #[arg(
        short = 'o',
        long = "out-link",
        value_name = "LINK",
        default_value = "result"
    )]
    pub out_link: PathBuf,
    /// Free space on the machine's disk.
    #[arg(long, value_name = "SIZE", default_value = "1G")]
    pub free: String,
}

/// Where Debian's OVMF keeps UEFI's firmware code and its variable store.
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";

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
    let (configuration, lock) = sources(&args.inputs)?;
    let mut store = crate::open_store(store_root, store_dir)?;
    let _hold = store.gc_hold()?;
    let toplevel = build_system_of(args.inputs, &store, None, &[])?;
    let top = store.print(&toplevel);
    let manifest = strata_activate::read_manifest(store.root(), &top)?;
    let host = if manifest.host_name.is_empty() {
        "strata".to_owned()
    } else {
        manifest.host_name.clone()
    };
    let cwd = std::env::current_dir().context("cannot find the current directory")?;
    let disk = cwd.join(format!("{host}.qcow2"));
    let uefi = manifest.boot_loader.kind != "grub";
    let vars = cwd.join(format!("{host}-efivars.fd"));
    if uefi && !Path::new(OVMF_CODE).is_file() {
        anyhow::bail!(
            "{host} boots with systemd-boot, which needs UEFI firmware: install Debian's ovmf \
             ({OVMF_CODE} is missing)"
        );
    }
    let report = build_image(&ImageSpec {
        store: &store,
        toplevel: &toplevel,
        configuration: &configuration,
        lock: lock.is_file().then_some(lock.as_path()),
        format: Format::Qcow2,
        size: None,
        free,
        epoch: 1,
        out: &disk,
    })
    .with_context(|| format!("failed to write the disk {}", disk.display()))?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if uefi {
        std::fs::copy(OVMF_VARS, &vars)
            .with_context(|| format!("cannot copy {OVMF_VARS} to {}", vars.display()))?;
    }
    let script = strata_images::vm::launcher(
        &host,
        &disk,
        uefi.then(|| (Path::new(OVMF_CODE), vars.as_path())),
    );
    // The launcher goes into the store, like any build result.
    let stage = tempfile::tempdir().context("cannot create a temporary directory")?;
    let bin = stage.path().join("bin");
    std::fs::create_dir_all(&bin)?;
    let run = bin.join(format!("run-{host}-vm"));
    std::fs::write(&run, script)?;
    std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let info = store.add_path(stage.path(), Some(&format!("{host}-vm")))?;
    store.add_indirect_root(&args.out_link, &info.path)?;
    // The user runs the launcher through the link: where the store is kept elsewhere than at
    // its logical place, the link points at the physical copy (still a root to the GC).
    let real = store.real_path(&info.path);
    if real != Path::new(&store.print(&info.path)) {
        let tmp = args.out_link.with_extension("strata-tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&real, &tmp)
            .with_context(|| format!("cannot link {}", tmp.display()))?;
        std::fs::rename(&tmp, &args.out_link)
            .with_context(|| format!("cannot link {}", args.out_link.display()))?;
    }
    eprintln!(
        "{}: the disk of {host} (from {top}); boot it with ./{}/bin/run-{host}-vm",
        disk.display(),
        args.out_link.display()
    );
    println!("{}", store.print(&info.path));
    Ok(ExitCode::SUCCESS)
}
