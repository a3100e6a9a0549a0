//! GRUB for a GPT disk image that boots on BIOS and on UEFI: the EFI program that goes to
//! `EFI/BOOT/BOOTX64.EFI` on the ESP, and for BIOS the core image in the BIOS boot partition
//! plus the MBR boot code that loads it.
//!
//! `grub-mkimage` (from Debian's `grub-common`) builds both images from a module directory
//! (`usr/lib/grub/x86_64-efi` of `grub-efi-amd64-bin`, `usr/lib/grub/i386-pc` of `grub-pc-bin`).
//! Each carries an early config that finds the ESP by its file system label and makes
//! `(ESP)/grub` the prefix; GRUB's normal mode then reads `grub/grub.cfg` there. Every module
//! that config and strata's `grub.cfg` need is built in ([`EFI_MODULES`], [`BIOS_MODULES`]),
//! so nothing is loaded from disk at boot and the ESP needs no module directory. For identical
//! inputs `grub-mkimage` writes identical bytes (its PE timestamp is a constant and the config
//! is embedded by content, not by path).
//!
//! [`embed_bios`] ([`bios`]) is strata's own replacement for `grub-bios-setup`, written from
//! the on-disk format of GRUB's `boot.img` and `diskboot.img`.
//!
//! Must not: need root, a loop device or a block device; write anything but the image file it is
//! given, the output path and a private scratch directory; change bytes 440..512 of the MBR (the
//! disk signature, the partition table and the boot signature belong to the GPT writer).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

pub mod bios;

pub use bios::{bios_boot_sectors, embed_bios, BiosBoot, BootImgProblem};
use bios::{check_core_img, read_boot_img, MAX_CORE_SECTORS};
use tracing::debug;

/// The one list of modules both images build in: `$first` before it (disk access) and
/// `$video` after `all_video` (the firmware's framebuffer), so the two lists cannot drift
/// apart.
macro_rules! modules {
    ([$($first:literal),*], [$($video:literal),*]) => {
        &[
            $($first,)*
            "part_gpt",
            "part_msdos",
            "fat",
            "ext2",
            "iso9660",
            "search",
            "search_label",
            "search_fs_uuid",
            "normal",
            "configfile",
            "linux",
            "echo",
            "test",
            "all_video",
            $($video,)*
            "serial",
            "terminal",
            "gzio",
            "boot",
            "ls",
            "cat",
            "reboot",
            "halt",
            "sleep",
        ]
    };
}

/// Modules built into the EFI image, in this order (the order is part of the output's bytes).
///
/// Partition maps and file systems to find the ESP and a root (`part_gpt`, `part_msdos`, `fat`,
/// `ext2` which reads ext2/3/4, `iso9660` for a live medium); `search` with its label and UUID back ends; `normal` and
/// `configfile` for menus; `linux` (with `initrd`); `echo`, `test` (`[`), `sleep`, `ls`, `cat`
/// for scripts and rescue; video for the kernel's framebuffer (`all_video`, `efi_gop`);
/// `serial` and `terminal` for consoles; `gzio` for compressed files; `boot`, `reboot`,
/// `halt`.
pub const EFI_MODULES: &[&str] = modules!([], ["efi_gop"]);

/// Modules built into the BIOS core image, in this order: [`EFI_MODULES`] without `efi_gop`,
/// with `biosdisk` (disk access through INT 13h) first.
pub const BIOS_MODULES: &[&str] = modules!(["biosdisk"], []);

/// The prefix given to `grub-mkimage -p`; the early config replaces it by `(ESP)/grub`.
const PREFIX: &str = "/grub";

/// Why building or installing GRUB failed.
#[derive(Debug, Error)]
pub enum Error {
    #[error("finding GRUB files in {}: {} missing", dir.display(), missing.join(", "))]
    MissingFiles { dir: PathBuf, missing: Vec<String> },
    #[error("putting the ESP label {label:?} into GRUB's early config: {problem}")]
    BadLabel {
        label: String,
        problem: &'static str,
    },
    #[error("creating a scratch directory in {}: {source}", dir.display())]
    Scratch {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("running {}: {source}", tool.display())]
    Spawn {
        tool: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("running {} -O {format}: {status}: {stderr}", tool.display())]
    Mkimage {
        tool: PathBuf,
        format: &'static str,
        status: ExitStatus,
        stderr: String,
    },
    #[error("reading {}: not GRUB's i386-pc boot.img: {problem}", path.display())]
    BadBootImg {
        path: PathBuf,
        problem: BootImgProblem,
    },
    #[error("reading the i386-pc core image: {problem}")]
    BadCoreImg { problem: String },
    #[error(
        "embedding GRUB: core.img needs {sectors} sectors but the BIOS boot partition at LBA \
         {lba} has {capacity}"
    )]
    CoreTooLarge {
        sectors: u64,
        lba: u64,
        capacity: u64,
    },
    #[error(
        "embedding GRUB: core.img needs {sectors} sectors, more than the {MAX_CORE_SECTORS} \
         that GRUB's own installer embeds"
    )]
    CoreTooLargeToLoad { sectors: u64 },
    #[error("embedding GRUB into the disk image: {problem}")]
    BadDisk { problem: String },
    #[error("reading the size of the disk image: {0}")]
    DiskSize(#[source] io::Error),
    #[error("{what} the disk image at byte offset {offset}: {source}")]
    DiskIo {
        what: &'static str,
        offset: u64,
        #[source]
        source: io::Error,
    },
}

/// Builds GRUB's EFI program into `out` (for `EFI/BOOT/BOOTX64.EFI` on the ESP) with `tool`
/// (`grub-mkimage`) from `modules_dir` (`.../usr/lib/grub/x86_64-efi`). At boot it finds the
/// file system labelled `esp_label` and reads `grub/grub.cfg` from it.
/// What GRUB needs for BIOS on a medium (an ISO): the El Torito image and the hybrid MBR's
/// boot code.
#[derive(Debug, Clone)]
pub struct IsoBoot {
    pub eltorito: Vec<u8>,
    pub hybrid_mbr: Vec<u8>,
}

pub fn efi_image(
    tool: &Path,
    modules_dir: &Path,
    esp_label: &str,
    out: &Path,
) -> Result<(), Error> {
    let image = mkimage(tool, "x86_64-efi", modules_dir, esp_label, EFI_MODULES)?;
    fs::write(out, image).map_err(|source| Error::Io {
        what: "writing",
        path: out.to_owned(),
        source,
    })
}

/// Builds GRUB's BIOS core image with `tool` (`grub-mkimage`) from `modules_dir`
/// (`.../usr/lib/grub/i386-pc`) and reads the module directory's `boot.img`; [`embed_bios`]
/// writes both into a disk image. At boot the core finds the file system labelled `esp_label`
/// and reads `grub/grub.cfg` from it.
pub fn bios_core(tool: &Path, modules_dir: &Path, esp_label: &str) -> Result<BiosBoot, Error> {
    check_files(
        modules_dir,
        &["boot.img", "diskboot.img", "lzma_decompress.img"],
    )?;
    let boot_path = modules_dir.join("boot.img");
    let boot_img = read_boot_img(&boot_path)?;
    let core_img = mkimage(tool, "i386-pc", modules_dir, esp_label, BIOS_MODULES)?;
    check_core_img(&core_img)?;
    Ok(BiosBoot { boot_img, core_img })
}

/// Builds GRUB's BIOS image for a CD (El Torito, no emulation: `cdboot.img` then the core)
/// with `tool` (`grub-mkimage`) from `modules_dir` (`.../usr/lib/grub/i386-pc`). At boot it
/// finds the file system labelled `label` (the medium) and reads `grub/grub.cfg` from it.
pub fn eltorito_image(tool: &Path, modules_dir: &Path, label: &str) -> Result<Vec<u8>, Error> {
    check_files(modules_dir, &["cdboot.img", "lzma_decompress.img"])?;
    mkimage(tool, "i386-pc-eltorito", modules_dir, label, BIOS_MODULES)
}

/// The config built into the image: run by GRUB's rescue parser before normal mode, so plain
/// commands only (no `if`, no comments).
fn early_config(esp_label: &str) -> Result<String, Error> {
    let bad = |problem| Error::BadLabel {
        label: esp_label.to_owned(),
        problem,
    };
    if esp_label.is_empty() {
        return Err(bad("it is empty"));
    }
    if esp_label.chars().any(char::is_control) {
        return Err(bad("it has a control character"));
    }
    if esp_label.contains('\'') {
        // A FAT label may hold one, but quoting it for the rescue parser is not worth the risk.
        return Err(bad("it has a single quote"));
    }
    Ok(format!(
        "search --no-floppy --set=root --label '{esp_label}'\nset prefix=($root){PREFIX}\n"
    ))
}

fn check_files(dir: &Path, names: &[&str]) -> Result<(), Error> {
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !dir.join(n).is_file())
        .map(|n| n.to_string())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingFiles {
            dir: dir.to_owned(),
            missing,
        })
    }
}

/// Runs `grub-mkimage -O format` in a scratch directory and returns the image: a failure leaves
/// no half-written file behind.
fn mkimage(
    tool: &Path,
    format: &'static str,
    modules_dir: &Path,
    esp_label: &str,
    modules: &[&str],
) -> Result<Vec<u8>, Error> {
    let config = early_config(esp_label)?;
    let mut needed = vec!["kernel.img".to_owned(), "moddep.lst".to_owned()];
    needed.extend(modules.iter().map(|m| format!("{m}.mod")));
    let needed: Vec<&str> = needed.iter().map(String::as_str).collect();
    check_files(modules_dir, &needed)?;

    let scratch = Scratch::new()?;
    let config_path = scratch.path().join("early.cfg");
    let out = scratch.path().join("image");
    fs::write(&config_path, config).map_err(|source| Error::Io {
        what: "writing",
        path: config_path.clone(),
        source,
    })?;
    let mut cmd = Command::new(tool);
    cmd.env("LC_ALL", "C")
        .arg("-O")
        .arg(format)
        .arg("-d")
        .arg(modules_dir)
        .arg("-o")
        .arg(&out)
        .arg("-p")
        .arg(PREFIX)
        .arg("-c")
        .arg(&config_path)
        .args(modules);
    debug!(?cmd, "building a GRUB image");
    let output = cmd.output().map_err(|source| Error::Spawn {
        tool: tool.to_owned(),
        source,
    })?;
    if !output.status.success() {
        return Err(Error::Mkimage {
            tool: tool.to_owned(),
            format,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    fs::read(&out).map_err(|source| Error::Io {
        what: "reading",
        path: out.clone(),
        source,
    })
}

/// A directory of our own under the temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let mut last = None;
        // Names are unique within this process; a stale one from an earlier process with the
        // same id is skipped.
        for _ in 0..100 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!("strata-grub-{}-{n}", std::process::id()));
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(Scratch(dir)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(source) => return Err(Error::Scratch { dir: base, source }),
            }
        }
        Err(Error::Scratch {
            dir: base,
            source: last.unwrap_or_else(|| io::Error::other("no free name")),
        })
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = strata_store::fs::delete_tree(&self.0) {
            debug!(dir = %self.0.display(), error = %e, "removing a scratch directory");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
