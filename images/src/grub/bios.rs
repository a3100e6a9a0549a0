//! GRUB's BIOS boot code on a disk image: strata's own replacement for `grub-bios-setup`,
//! written from the on-disk format of GRUB's `boot.img` and `diskboot.img` (the first sector
//! of every i386-pc core image); the offsets it patches are documented at their constants.
//!
//! Must not: run any tool (the images come from [`super::bios_core`]); write anything but the
//! disk image it is given; change bytes 440..512 of the MBR (the disk signature, the partition
//! table and the boot signature belong to the GPT writer).

use std::fmt;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::Path;

use tracing::debug;

use super::Error;

pub(crate) const SECTOR: usize = 512;

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
pub(super) const MAX_CORE_SECTORS: u64 = (0x78000 - 0x9000) / SECTOR as u64;

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

pub(super) fn read_boot_img(path: &Path) -> Result<[u8; SECTOR], Error> {
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

pub(super) fn check_core_img(core: &[u8]) -> Result<(), Error> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
