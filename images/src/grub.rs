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
//! [`embed_bios`] is strata's own replacement for `grub-bios-setup`, written from the on-disk
//! format of GRUB's `boot.img` and `diskboot.img` (the first sector of every i386-pc core
//! image); the offsets it patches are documented at their constants below.
//!
//! Must not: need root, a loop device or a block device; write anything but the image file it is
//! given, the output path and a private scratch directory; change bytes 440..512 of the MBR (the
//! disk signature, the partition table and the boot signature belong to the GPT writer).

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;
use tracing::debug;

/// Modules built into the EFI image, in this order (the order is part of the output's bytes).
///
/// Partition maps and file systems to find the ESP and a root (`part_gpt`, `part_msdos`, `fat`,
/// `ext2` which reads ext2/3/4, `iso9660` for a live medium); `search` with its label and UUID back ends; `normal` and
/// `configfile` for menus; `linux` (with `initrd`); `echo`, `test` (`[`), `sleep`, `ls`, `cat`
/// for scripts and rescue; video for the kernel's framebuffer (`all_video`, `efi_gop`);
/// `serial` and `terminal` for consoles; `gzio` for compressed files; `boot`, `reboot`,
/// `halt`.
pub const EFI_MODULES: &[&str] = &[
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
    "efi_gop",
    "serial",
    "terminal",
    "gzio",
    "boot",
    "ls",
    "cat",
    "reboot",
    "halt",
    "sleep",
];

/// Modules built into the BIOS core image, in this order: [`EFI_MODULES`] without `efi_gop`,
/// with `biosdisk` (disk access through INT 13h) first.
pub const BIOS_MODULES: &[&str] = &[
    "biosdisk",
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
    "serial",
    "terminal",
    "gzio",
    "boot",
    "ls",
    "cat",
    "reboot",
    "halt",
    "sleep",
];

/// The prefix given to `grub-mkimage -p`; the early config replaces it by `(ESP)/grub`.
const PREFIX: &str = "/grub";

const SECTOR: usize = 512;

// boot.img: the MBR boot code (GRUB's grub-core/boot/i386/pc/boot.S; the offsets are
// GRUB_BOOT_MACHINE_* in include/grub/i386/pc/boot.h and were checked against Debian
// bookworm's grub-pc-bin 2.06-13 boot.img, whose bytes there are 00 80 | 01 00 00 00 00 00 00 00
// | ff | .. | eb 05).

/// u16 LE: the address boot.img jumps to after loading core.img's first sector, 0x8000. Only
/// read, to recognise a boot.img (it is the word before the kernel sector).
const BOOT_KERNEL_ADDRESS: usize = 0x5a;
/// u64 LE: the LBA of core.img's first sector (GRUB_BOOT_MACHINE_KERNEL_SECTOR); 1 in the file.
const BOOT_KERNEL_SECTOR: usize = 0x5c;
/// u8: the BIOS drive to read core.img from (GRUB_BOOT_MACHINE_BOOT_DRIVE); 0xff, which
/// grub-bios-setup writes too, means the drive the BIOS booted from (DL).
const BOOT_DRIVE: usize = 0x64;
/// Two bytes (GRUB_BOOT_MACHINE_DRIVE_CHECK): a short `jmp` (eb 05) over `testb $0x80, %dl;
/// jz`. grub-bios-setup replaces it by two `nop`s (90 90) when it installs to a hard disk, so
/// a DL without the hard-disk bit (from BIOSes that pass 0 or 1 when booting the first disk)
/// is replaced by 0x80. We install to a disk, so we do the same.
const BOOT_DRIVE_CHECK: usize = 0x66;
/// The end of the MBR's boot code (GRUB_BOOT_MACHINE_WINDOWS_NT_MAGIC): 440..444 hold the disk
/// signature, 446..510 the partition table, 510..512 the boot signature 55 aa.
const MBR_CODE_END: usize = 0x1b8;
/// The boot signature at 510..512 of an MBR (and of boot.img).
const MBR_SIGNATURE: [u8; 2] = [0x55, 0xaa];

// diskboot.img: the first sector of core.img (grub-core/boot/i386/pc/diskboot.S). It reads the
// rest of core.img through a list of blocks at the end of the sector: entries of 12 bytes
// (struct grub_pc_bios_boot_blocklist in include/grub/offsets.h: start u64 LE, the first LBA;
// len u16 LE, the sector count; segment u16 LE, where they go), the first at 0x1f4..0x200, the
// next ones below it, the list ending at an entry whose len is 0.

/// The first block list entry (0x200 - GRUB_BOOT_MACHINE_LIST_SIZE).
const BLOCKLIST_FIRST: usize = SECTOR - BLOCKLIST_ENTRY;
/// The size of a block list entry (GRUB_BOOT_MACHINE_LIST_SIZE).
const BLOCKLIST_ENTRY: usize = 12;
/// Where the second sector of core.img is loaded: segment 0x820 (address 0x8200, right after
/// diskboot at 0x8000), GRUB_BOOT_I386_PC_KERNEL_SEG + 512 / 16. grub-mkimage writes it as the
/// default and grub-bios-setup writes it again; we check it to recognise a core.img.
const CORE_LOAD_SEGMENT: u16 = 0x820;
/// The most sectors grub-bios-setup embeds, 888: (0x78000 - GRUB_KERNEL_I386_PC_LINK_ADDR
/// 0x9000) / 512. diskboot copies the sectors up from 0x8200 through its read buffer at
/// 0x70000..0x78000; we stay within the limit GRUB's own installer keeps to.
const MAX_CORE_SECTORS: u64 = (0x78000 - 0x9000) / SECTOR as u64;

/// What [`embed_bios`] writes: GRUB's MBR code and its core image.
#[derive(Clone, PartialEq, Eq)]
pub struct BiosBoot {
    /// `boot.img` of the module directory, as in the file.
    pub boot_img: [u8; SECTOR],
    /// The core image as `grub-mkimage -O i386-pc` wrote it (not padded to a sector).
    pub core_img: Vec<u8>,
}

impl fmt::Debug for BiosBoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BiosBoot")
            .field("boot_img", &format_args!("[{SECTOR} bytes]"))
            .field("core_img", &format_args!("[{} bytes]", self.core_img.len()))
            .finish()
    }
}

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

/// The sectors a core image of `core_len` bytes occupies: the least size of the BIOS boot
/// partition. Partitions are usually 1 MiB (2048 sectors) for alignment, far more than this.
pub fn bios_boot_sectors(core_len: usize) -> u64 {
    (core_len as u64).div_ceil(SECTOR as u64)
}

/// Installs GRUB for BIOS into `disk`, a whole-disk image whose protective MBR is already
/// written: the core image at `core_lba` (the first LBA of the BIOS boot partition, which has
/// `core_capacity_sectors` sectors), and boot.img's code into the MBR's bytes 0..440, pointed at
/// the core. Bytes 440..512 of the MBR are left as they are.
///
/// The core image's first sector is told to load the rest from `core_lba + 1`; boot.img is
/// told to load the first sector from `core_lba` on the drive the BIOS booted from. Nothing is
/// written when the core does not fit or the disk has no MBR yet. The result is byte for byte
/// what `grub-bios-setup --no-rs-codes` writes for the same images and partition; the caller
/// syncs the file.
pub fn embed_bios(
    disk: &mut File,
    boot: &BiosBoot,
    core_lba: u64,
    core_capacity_sectors: u64,
) -> Result<(), Error> {
    check_core_img(&boot.core_img)?;
    check_boot_img(&boot.boot_img).map_err(|problem| Error::BadBootImg {
        path: "boot.img".into(),
        problem,
    })?;
    if core_lba == 0 {
        return Err(Error::BadDisk {
            problem: "the core image cannot go to LBA 0, the MBR".into(),
        });
    }
    let sectors = bios_boot_sectors(boot.core_img.len());
    if sectors > core_capacity_sectors {
        return Err(Error::CoreTooLarge {
            sectors,
            lba: core_lba,
            capacity: core_capacity_sectors,
        });
    }
    if sectors > MAX_CORE_SECTORS {
        return Err(Error::CoreTooLargeToLoad { sectors });
    }
    let core_offset = core_lba
        .checked_mul(SECTOR as u64)
        .filter(|o| o.checked_add(sectors * SECTOR as u64).is_some())
        .ok_or_else(|| Error::BadDisk {
            problem: format!("LBA {core_lba} is beyond any disk"),
        })?;
    let core_end = core_offset + sectors * SECTOR as u64;
    let disk_len = disk.metadata().map_err(Error::DiskSize)?.len();
    if disk_len < core_end {
        return Err(Error::BadDisk {
            problem: format!(
                "the image is {disk_len} bytes, but the core image at LBA {core_lba} ends at \
                 byte {core_end}"
            ),
        });
    }

    let mut mbr = [0u8; SECTOR];
    disk.read_exact_at(&mut mbr, 0)
        .map_err(|source| Error::DiskIo {
            what: "reading",
            offset: 0,
            source,
        })?;
    if mbr[SECTOR - 2..] != MBR_SIGNATURE {
        return Err(Error::BadDisk {
            problem: "sector 0 has no MBR boot signature (55 aa at byte 510): write the \
                      protective MBR first"
                .into(),
        });
    }

    let core = patch_core(&boot.core_img, core_lba, sectors)?;
    let code = patch_boot(&boot.boot_img, core_lba);

    debug!(core_lba, sectors, "embedding GRUB's core image");
    // The core first, so that a failure leaves no MBR pointing at a half-written core.
    disk.write_all_at(&core, core_offset)
        .map_err(|source| Error::DiskIo {
            what: "writing the core image into",
            offset: core_offset,
            source,
        })?;
    disk.write_all_at(&code, 0)
        .map_err(|source| Error::DiskIo {
            what: "writing the MBR boot code into",
            offset: 0,
            source,
        })?;
    Ok(())
}

/// The core image padded to whole sectors, its first block list entry saying where the rest is.
fn patch_core(core_img: &[u8], core_lba: u64, sectors: u64) -> Result<Vec<u8>, Error> {
    let rest = u16::try_from(sectors - 1).map_err(|_| Error::CoreTooLargeToLoad { sectors })?;
    let mut core = core_img.to_vec();
    core.resize(sectors as usize * SECTOR, 0);
    let first = BLOCKLIST_FIRST;
    core[first..first + 8].copy_from_slice(&(core_lba + 1).to_le_bytes());
    core[first + 8..first + 10].copy_from_slice(&rest.to_le_bytes());
    core[first + 10..first + 12].copy_from_slice(&CORE_LOAD_SEGMENT.to_le_bytes());
    // The whole core is one run of sectors: the next entry ends the list.
    core[first - BLOCKLIST_ENTRY..first].fill(0);
    Ok(core)
}

/// boot.img's code (bytes 0..440) told to load the core image from `core_lba`.
fn patch_boot(boot_img: &[u8; SECTOR], core_lba: u64) -> [u8; MBR_CODE_END] {
    let mut code = [0u8; MBR_CODE_END];
    code.copy_from_slice(&boot_img[..MBR_CODE_END]);
    code[BOOT_KERNEL_SECTOR..BOOT_KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
    code[BOOT_DRIVE] = 0xff;
    code[BOOT_DRIVE_CHECK] = 0x90;
    code[BOOT_DRIVE_CHECK + 1] = 0x90;
    code
}

fn read_boot_img(path: &Path) -> Result<[u8; SECTOR], Error> {
    let bytes = fs::read(path).map_err(|source| Error::Io {
        what: "reading",
        path: path.to_owned(),
        source,
    })?;
    let bad = |problem: BootImgProblem| Error::BadBootImg {
        path: path.to_owned(),
        problem,
    };
    let img: [u8; SECTOR] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| bad(BootImgProblem::Size(bytes.len())))?;
    check_boot_img(&img).map_err(bad)?;
    Ok(img)
}

/// Why a file is not GRUB's i386-pc boot.img.
#[derive(Debug, thiserror::Error)]
pub enum BootImgProblem {
    #[error("it is {0} bytes, not {SECTOR}")]
    Size(usize),
    #[error("no boot signature 55 aa at byte 510")]
    NoSignature,
    #[error("no load address 0x8000 at byte {BOOT_KERNEL_ADDRESS:#x}")]
    NoLoadAddress,
    #[error("no drive check jump at byte {BOOT_DRIVE_CHECK:#x} (found {0:02x} {1:02x})")]
    NoDriveCheck(u8, u8),
}

/// Whether `img` looks like GRUB's boot.img where [`patch_boot`] writes; the problem if not.
fn check_boot_img(img: &[u8; SECTOR]) -> Result<(), BootImgProblem> {
    if img[SECTOR - 2..] != MBR_SIGNATURE {
        return Err(BootImgProblem::NoSignature);
    }
    if img[BOOT_KERNEL_ADDRESS..BOOT_KERNEL_ADDRESS + 2] != 0x8000u16.to_le_bytes() {
        return Err(BootImgProblem::NoLoadAddress);
    }
    // Either the `jmp` GRUB ships or the `nop`s an installed copy has: anything else would be
    // code we must not overwrite.
    let check = [img[BOOT_DRIVE_CHECK], img[BOOT_DRIVE_CHECK + 1]];
    if check[0] != 0xeb && check != [0x90, 0x90] {
        return Err(BootImgProblem::NoDriveCheck(check[0], check[1]));
    }
    Ok(())
}

fn check_core_img(core: &[u8]) -> Result<(), Error> {
    if core.len() <= SECTOR {
        return Err(Error::BadCoreImg {
            problem: format!(
                "it is {} bytes; an i386-pc core image has diskboot.img and at least one more \
                 sector",
                core.len()
            ),
        });
    }
    let segment = u16::from_le_bytes([core[SECTOR - 2], core[SECTOR - 1]]);
    if segment != CORE_LOAD_SEGMENT {
        return Err(Error::BadCoreImg {
            problem: format!(
                "its first sector is not diskboot.img: the load segment at byte 0x1fe is \
                 {segment:#x}, not {CORE_LOAD_SEGMENT:#x}"
            ),
        });
    }
    Ok(())
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
mod tests {
    use super::*;

    use std::io::{Read, Write};
    use std::process::{Child, Stdio};
    use std::sync::mpsc;
    use std::thread;
    use std::time::{Duration, Instant};

    // ---- Byte-level tests of embed_bios on synthetic images (no tools needed). ----

    /// A boot.img-shaped sector: a pattern, with GRUB's bytes where we check them.
    fn fake_boot_img() -> [u8; SECTOR] {
        let mut b = [0u8; SECTOR];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i * 7 + 3) as u8;
        }
        b[0x5a..0x5c].copy_from_slice(&[0x00, 0x80]);
        b[0x66..0x68].copy_from_slice(&[0xeb, 0x05]);
        b[510..].copy_from_slice(&[0x55, 0xaa]);
        b
    }

    /// A core image of 3 sectors and 100 bytes, a pattern everywhere but diskboot's segment.
    fn fake_core_img() -> Vec<u8> {
        let mut c: Vec<u8> = (0..3 * SECTOR + 100).map(|i| (i * 13 + 1) as u8).collect();
        c[0x1fe..0x200].copy_from_slice(&[0x20, 0x08]);
        c
    }

    /// A 1 MiB disk image: a pattern everywhere, an MBR with the boot signature.
    fn fake_disk(dir: &Path) -> (PathBuf, Vec<u8>) {
        let mut d: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        d[510..512].copy_from_slice(&[0x55, 0xaa]);
        let path = dir.join("disk.img");
        fs::write(&path, &d).unwrap();
        (path, d)
    }

    fn open_rw(path: &Path) -> File {
        File::options().read(true).write(true).open(path).unwrap()
    }

    #[test]
    fn embed_bios_patches_exactly_the_documented_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (path, before) = fake_disk(dir.path());
        let boot = BiosBoot {
            boot_img: fake_boot_img(),
            core_img: fake_core_img(),
        };
        let lba = 100u64;
        embed_bios(&mut open_rw(&path), &boot, lba, 4).unwrap();
        let after = fs::read(&path).unwrap();

        // What grub-bios-setup would leave, written out independently of the code under test.
        let mut want = before.clone();
        want[..440].copy_from_slice(&boot.boot_img[..440]);
        want[0x5c..0x64].copy_from_slice(&[100, 0, 0, 0, 0, 0, 0, 0]);
        want[0x64] = 0xff;
        want[0x66..0x68].copy_from_slice(&[0x90, 0x90]);
        let at = 100 * SECTOR;
        want[at..at + 4 * SECTOR].fill(0);
        want[at..at + boot.core_img.len()].copy_from_slice(&boot.core_img);
        want[at + 0x1e8..at + 0x1f4].fill(0);
        want[at + 0x1f4..at + 0x1fc].copy_from_slice(&[101, 0, 0, 0, 0, 0, 0, 0]);
        want[at + 0x1fc..at + 0x1fe].copy_from_slice(&[3, 0]);
        want[at + 0x1fe..at + 0x200].copy_from_slice(&[0x20, 0x08]);
        assert!(after == want, "{}", first_difference(&after, &want));
        assert_eq!(after[440..512], before[440..512]);
    }

    fn first_difference(a: &[u8], b: &[u8]) -> String {
        match a.iter().zip(b).position(|(x, y)| x != y) {
            Some(i) => format!(
                "first difference at byte {i:#x}: {:#04x} != {:#04x}",
                a[i], b[i]
            ),
            None => format!("lengths {} != {}", a.len(), b.len()),
        }
    }

    #[test]
    fn embed_bios_refuses_and_leaves_the_disk_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (path, before) = fake_disk(dir.path());
        let boot = BiosBoot {
            boot_img: fake_boot_img(),
            core_img: fake_core_img(),
        };
        let unchanged = || assert!(fs::read(&path).unwrap() == before, "the disk changed");

        let e = embed_bios(&mut open_rw(&path), &boot, 100, 3).unwrap_err();
        assert!(matches!(
            e,
            Error::CoreTooLarge {
                sectors: 4,
                lba: 100,
                capacity: 3
            }
        ));
        assert_eq!(
            e.to_string(),
            "embedding GRUB: core.img needs 4 sectors but the BIOS boot partition at LBA 100 \
             has 3"
        );
        unchanged();

        let e = embed_bios(&mut open_rw(&path), &boot, 0, 100).unwrap_err();
        assert!(matches!(e, Error::BadDisk { .. }), "{e}");
        unchanged();

        let e = embed_bios(&mut open_rw(&path), &boot, 2047, 100).unwrap_err();
        assert!(e.to_string().contains("ends at byte"), "{e}");
        unchanged();

        let big = BiosBoot {
            boot_img: fake_boot_img(),
            core_img: {
                let mut c = vec![0u8; 900 * SECTOR];
                c[0x1fe..0x200].copy_from_slice(&[0x20, 0x08]);
                c
            },
        };
        let e = embed_bios(&mut open_rw(&path), &big, 34, 2000).unwrap_err();
        assert!(
            matches!(e, Error::CoreTooLargeToLoad { sectors: 900 }),
            "{e}"
        );
        unchanged();

        let not_core = BiosBoot {
            boot_img: fake_boot_img(),
            core_img: vec![0u8; 3 * SECTOR],
        };
        let e = embed_bios(&mut open_rw(&path), &not_core, 100, 10).unwrap_err();
        assert!(matches!(e, Error::BadCoreImg { .. }), "{e}");
        unchanged();

        let mut not_boot = boot.clone();
        not_boot.boot_img[0x66] = 0x31;
        let e = embed_bios(&mut open_rw(&path), &not_boot, 100, 10).unwrap_err();
        assert!(e.to_string().contains("drive check"), "{e}");
        unchanged();

        let mut d = before.clone();
        d[510] = 0;
        fs::write(&path, &d).unwrap();
        let e = embed_bios(&mut open_rw(&path), &boot, 100, 10).unwrap_err();
        assert!(
            e.to_string().contains("write the protective MBR first"),
            "{e}"
        );
        assert!(fs::read(&path).unwrap() == d, "the disk changed");
    }

    #[test]
    fn bios_boot_sectors_round_up() {
        assert_eq!(bios_boot_sectors(0), 0);
        assert_eq!(bios_boot_sectors(1), 1);
        assert_eq!(bios_boot_sectors(512), 1);
        assert_eq!(bios_boot_sectors(513), 2);
        assert_eq!(bios_boot_sectors(174_688), 342);
    }

    #[test]
    fn early_config_finds_the_esp_by_label() {
        assert_eq!(
            early_config("ESP").unwrap(),
            "search --no-floppy --set=root --label 'ESP'\nset prefix=($root)/grub\n"
        );
        assert_eq!(
            early_config("MY ESP").unwrap(),
            "search --no-floppy --set=root --label 'MY ESP'\nset prefix=($root)/grub\n"
        );
        for bad in ["", "a'b", "a\nb"] {
            let e = early_config(bad).unwrap_err();
            assert!(matches!(e, Error::BadLabel { .. }), "{bad:?}: {e}");
        }
    }

    #[test]
    fn missing_modules_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["kernel.img", "moddep.lst", "part_gpt.mod"] {
            fs::write(dir.path().join(f), "").unwrap();
        }
        let out = dir.path().join("out.efi");
        let e = efi_image(
            Path::new("/nonexistent/grub-mkimage"),
            dir.path(),
            "ESP",
            &out,
        )
        .unwrap_err();
        let Error::MissingFiles { missing, .. } = &e else {
            panic!("{e}");
        };
        assert_eq!(missing.len(), EFI_MODULES.len() - 1);
        assert_eq!(missing[0], "part_msdos.mod");
        assert!(e.to_string().starts_with("finding GRUB files in "), "{e}");
        assert!(
            e.to_string().contains("part_msdos.mod, fat.mod, ext2.mod"),
            "{e}"
        );
        assert!(!out.exists());
    }

    // ---- With the host's GRUB (Debian grub-common, grub-pc-bin, grub-efi-amd64-bin). ----

    const MKIMAGE: &str = "/usr/bin/grub-mkimage";
    const BIOS_DIR: &str = "/usr/lib/grub/i386-pc";
    const EFI_DIR: &str = "/usr/lib/grub/x86_64-efi";
    const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
    const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";

    /// Fails with what to install when a host tool is missing.
    fn require(paths: &[&str]) {
        let missing: Vec<&&str> = paths.iter().filter(|p| !Path::new(p).exists()).collect();
        assert!(
            missing.is_empty(),
            "missing {missing:?}: these tests need the Debian packages grub-common grub-pc-bin \
             grub-efi-amd64-bin dosfstools mtools qemu-system-x86 ovmf"
        );
    }

    #[test]
    fn grub_images_are_reproducible() {
        require(&[MKIMAGE, BIOS_DIR, EFI_DIR]);
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.efi"), dir.path().join("b.efi"));
        efi_image(Path::new(MKIMAGE), Path::new(EFI_DIR), "ESP", &a).unwrap();
        efi_image(Path::new(MKIMAGE), Path::new(EFI_DIR), "ESP", &b).unwrap();
        assert!(
            fs::read(&a).unwrap() == fs::read(&b).unwrap(),
            "EFI images differ"
        );
        let c = dir.path().join("c.efi");
        efi_image(Path::new(MKIMAGE), Path::new(EFI_DIR), "OTHER", &c).unwrap();
        assert!(
            fs::read(&a).unwrap() != fs::read(&c).unwrap(),
            "the label is not built in"
        );

        let x = bios_core(Path::new(MKIMAGE), Path::new(BIOS_DIR), "ESP").unwrap();
        let y = bios_core(Path::new(MKIMAGE), Path::new(BIOS_DIR), "ESP").unwrap();
        assert!(x == y, "BIOS images differ");
        assert_eq!(
            x.boot_img[..],
            fs::read(Path::new(BIOS_DIR).join("boot.img")).unwrap()
        );
        assert!(
            bios_boot_sectors(x.core_img.len()) < 2048,
            "{x:?} does not fit 1 MiB"
        );
    }

    #[test]
    fn grub_mkimage_failure_is_reported_and_writes_nothing() {
        require(&[MKIMAGE, EFI_DIR]);
        let dir = tempfile::tempdir().unwrap();
        // Every file grub-mkimage is asked for exists, but none is a module.
        let modules = dir.path().join("x86_64-efi");
        fs::create_dir(&modules).unwrap();
        fs::write(modules.join("kernel.img"), "").unwrap();
        fs::write(modules.join("moddep.lst"), "").unwrap();
        for m in EFI_MODULES {
            fs::write(modules.join(format!("{m}.mod")), "not ELF").unwrap();
        }
        let out = dir.path().join("BOOTX64.EFI");
        let e = efi_image(Path::new(MKIMAGE), &modules, "ESP", &out).unwrap_err();
        assert!(matches!(e, Error::Mkimage { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("running /usr/bin/grub-mkimage -O x86_64-efi: exit status: "),
            "{e}"
        );
        assert!(!out.exists());

        let out = dir.path().join("no/such/dir/BOOTX64.EFI");
        let e = efi_image(Path::new(MKIMAGE), Path::new(EFI_DIR), "ESP", &out).unwrap_err();
        assert!(e.to_string().starts_with("writing "), "{e}");
        assert!(e.to_string().contains("no/such/dir/BOOTX64.EFI: "), "{e}");
    }

    // ---- A GPT disk with GRUB for BIOS and UEFI, booted in QEMU (TCG). ----

    const BIOS_BOOT_LBA: u64 = 2048;
    const BIOS_BOOT_SECTORS: u64 = 2048;
    const ESP_LBA: u64 = 4096;
    const ESP_SECTORS: u64 = 64 << 11; // 64 MiB
    const DISK_SECTORS: u64 = ESP_LBA + ESP_SECTORS + 2048;
    const ESP_LABEL: &str = "ESP";
    /// The type GUIDs as stored (the first three fields little endian).
    const BIOS_BOOT_TYPE: [u8; 16] = *b"Hah!IdontNeedEFI"; // 21686148-6449-6E6F-744E-656564454649
    const ESP_TYPE: [u8; 16] = [
        0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9,
        0x3b,
    ]; // C12A7328-F81F-11D2-BA4B-00A0C93EC93B

    /// The menu both firmwares read: the marker names the platform GRUB runs on. The marker text
    /// is not in the file, so only GRUB running it can print it. Under OVMF the firmware's
    /// console reaches the serial port already; with `terminal_output serial console` there,
    /// every line came out twice.
    const GRUB_CFG: &str = r#"if [ "$grub_platform" = efi ]; then
  terminal_input console
  terminal_output console
else
  serial --unit=0 --speed=115200
  terminal_input serial
  terminal_output serial
fi
set kind=OK
echo "STRATA-GRUB-${kind}-${grub_platform}"
sleep 30
"#;

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A protective MBR and both GPT copies for `parts` (type, first LBA, sector count, name).
    fn write_gpt(disk: &File, total: u64, parts: &[([u8; 16], u64, u64, &str)]) {
        let mut mbr = [0u8; SECTOR];
        let e = &mut mbr[446..462];
        e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
        e[4] = 0xee;
        e[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
        e[8..12].copy_from_slice(&1u32.to_le_bytes());
        e[12..16].copy_from_slice(&u32::try_from(total - 1).unwrap_or(u32::MAX).to_le_bytes());
        mbr[510..].copy_from_slice(&[0x55, 0xaa]);
        disk.write_all_at(&mbr, 0).unwrap();

        let mut entries = vec![0u8; 128 * 128];
        for (i, (ty, first, len, name)) in parts.iter().enumerate() {
            let e = &mut entries[i * 128..(i + 1) * 128];
            e[..16].copy_from_slice(ty);
            e[16..32].copy_from_slice(&[0x5a, i as u8 + 1, 0x11, 0x22].repeat(4));
            e[32..40].copy_from_slice(&first.to_le_bytes());
            e[40..48].copy_from_slice(&(first + len - 1).to_le_bytes());
            for (j, u) in name.encode_utf16().enumerate() {
                e[56 + 2 * j..58 + 2 * j].copy_from_slice(&u.to_le_bytes());
            }
        }
        let entries_crc = crc32(&entries);
        let header = |current: u64, backup: u64, entries_lba: u64| {
            let mut h = [0u8; SECTOR];
            h[..8].copy_from_slice(b"EFI PART");
            h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
            h[12..16].copy_from_slice(&92u32.to_le_bytes());
            h[24..32].copy_from_slice(&current.to_le_bytes());
            h[32..40].copy_from_slice(&backup.to_le_bytes());
            h[40..48].copy_from_slice(&34u64.to_le_bytes());
            h[48..56].copy_from_slice(&(total - 34).to_le_bytes());
            h[56..72].copy_from_slice(&[0xd1, 0x5c, 0x00, 0x5e].repeat(4));
            h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
            h[80..84].copy_from_slice(&128u32.to_le_bytes());
            h[84..88].copy_from_slice(&128u32.to_le_bytes());
            h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
            let crc = crc32(&h[..92]);
            h[16..20].copy_from_slice(&crc.to_le_bytes());
            h
        };
        let s = SECTOR as u64;
        disk.write_all_at(&header(1, total - 1, 2), s).unwrap();
        disk.write_all_at(&entries, 2 * s).unwrap();
        disk.write_all_at(&entries, (total - 33) * s).unwrap();
        disk.write_all_at(&header(total - 1, 1, total - 33), (total - 1) * s)
            .unwrap();
    }

    fn run(cmd: &mut Command) {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A GPT disk with a BIOS boot partition holding GRUB's core, boot.img in the MBR, and a
    /// FAT32 ESP labelled `ESP` holding `grub/grub.cfg` and `EFI/BOOT/BOOTX64.EFI`.
    fn hybrid_disk(dir: &Path) -> PathBuf {
        let img = dir.join("disk.img");
        let disk = File::create(&img).unwrap();
        disk.set_len(DISK_SECTORS * SECTOR as u64).unwrap();
        write_gpt(
            &disk,
            DISK_SECTORS,
            &[
                (BIOS_BOOT_TYPE, BIOS_BOOT_LBA, BIOS_BOOT_SECTORS, "bios"),
                (ESP_TYPE, ESP_LBA, ESP_SECTORS, "esp"),
            ],
        );
        drop(disk);

        run(Command::new("mkfs.fat")
            .args(["-F", "32", "-n", ESP_LABEL, "--offset"])
            .arg(ESP_LBA.to_string())
            .arg(&img)
            .arg((ESP_SECTORS / 2).to_string()));
        let at = format!("{}@@{}", img.display(), ESP_LBA * SECTOR as u64);
        let efi = dir.join("BOOTX64.EFI");
        efi_image(Path::new(MKIMAGE), Path::new(EFI_DIR), ESP_LABEL, &efi).unwrap();
        let cfg = dir.join("grub.cfg");
        fs::write(&cfg, GRUB_CFG).unwrap();
        run(Command::new("mmd").env("MTOOLS_SKIP_CHECK", "1").args([
            "-i",
            &at,
            "::/grub",
            "::/EFI",
            "::/EFI/BOOT",
        ]));
        run(Command::new("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-i", &at])
            .arg(&cfg)
            .arg("::/grub/grub.cfg"));
        run(Command::new("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-i", &at])
            .arg(&efi)
            .arg("::/EFI/BOOT/BOOTX64.EFI"));

        let boot = bios_core(Path::new(MKIMAGE), Path::new(BIOS_DIR), ESP_LABEL).unwrap();
        let mut disk = open_rw(&img);
        let before = {
            let mut b = [0u8; SECTOR];
            disk.read_exact_at(&mut b, 0).unwrap();
            b
        };
        embed_bios(&mut disk, &boot, BIOS_BOOT_LBA, BIOS_BOOT_SECTORS).unwrap();
        let mut after = [0u8; SECTOR];
        disk.read_exact_at(&mut after, 0).unwrap();
        assert_eq!(after[440..], before[440..], "the partition table changed");
        img
    }

    /// Boots QEMU (q35, TCG, the disk on virtio) with `extra` arguments until `marker` is on
    /// the serial port; returns the time it took, or fails with the end of the serial output.
    /// (`-nographic` would put the monitor on stdio too, and `-serial stdio` then fails.)
    fn boot_until(disk: &Path, extra: &[String], marker: &str, log: &Path) -> Duration {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-machine", "q35", "-accel", "tcg", "-m", "256"])
            .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
            .args(["-nic", "none", "-no-reboot", "-drive"])
            .arg(format!("file={},format=raw,if=virtio", disk.display()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        let found = watch(&mut child, marker, log, Duration::from_secs(90));
        let elapsed = start.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        if !found {
            let text = String::from_utf8_lossy(&fs::read(log).unwrap_or_default()).into_owned();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "no {marker:?} on the serial port after {elapsed:?}; QEMU stderr: {stderr}\n\
                 the serial output ends:\n{}",
                tail.join("\n")
            );
        }
        elapsed
    }

    /// Copies the child's output to `log` until `marker` appears (true) or QEMU ends or the
    /// time is up (false).
    fn watch(child: &mut Child, marker: &str, log: &Path, timeout: Duration) -> bool {
        let Some(mut out) = child.stdout.take() else {
            return false;
        };
        let mut file = File::create(log).unwrap();
        let marker = marker.as_bytes().to_vec();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = out.read(&mut buf) {
                let _ = file.write_all(&buf[..n]);
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(marker.len()).any(|w| w == marker) {
                    let _ = tx.send(());
                    return;
                }
            }
        });
        rx.recv_timeout(timeout).is_ok()
    }

    #[test]
    fn grub_boots_the_disk_on_bios() {
        require(&[MKIMAGE, BIOS_DIR, EFI_DIR, "/usr/bin/qemu-system-x86_64"]);
        let dir = tempfile::tempdir().unwrap();
        let disk = hybrid_disk(dir.path());
        let log = dir.path().join("serial.log");
        let t = boot_until(&disk, &[], "STRATA-GRUB-OK-pc", &log);
        eprintln!("SeaBIOS: GRUB read grub.cfg after {t:?}");
    }

    #[test]
    fn grub_boots_the_disk_on_uefi() {
        require(&[MKIMAGE, BIOS_DIR, EFI_DIR, "/usr/bin/qemu-system-x86_64"]);
        require(&[OVMF_CODE, OVMF_VARS]);
        let dir = tempfile::tempdir().unwrap();
        let disk = hybrid_disk(dir.path());
        let vars = dir.path().join("OVMF_VARS.fd");
        fs::copy(OVMF_VARS, &vars).unwrap();
        let log = dir.path().join("serial.log");
        let extra = [
            "-drive".to_owned(),
            format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"),
            "-drive".to_owned(),
            format!("if=pflash,format=raw,file={}", vars.display()),
        ];
        let t = boot_until(&disk, &extra, "STRATA-GRUB-OK-efi", &log);
        eprintln!("OVMF: GRUB read grub.cfg after {t:?}");
    }
}
