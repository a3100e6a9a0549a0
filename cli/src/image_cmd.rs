//! `strata image`: build a configuration's system and write it as a disk image (raw GPT or
//! qcow2) or a rootfs tarball.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use strata_images::assemble::{build_image, Format, ImageSpec};

use crate::build_cmd::{build_system_of, configuration_file, BuildInputs};

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
    let configuration = configuration_file(args.inputs.file.clone())?;
    let lock = args.inputs.lock.clone().unwrap_or_else(|| {
        configuration
            .parent()
            .unwrap_or(Path::new("."))
            .join("strata.lock")
    });
    let store = crate::open_store(store_root, store_dir)?;
    let _hold = store.gc_hold()?;
    let toplevel = build_system_of(args.inputs, &store, None)?;
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
