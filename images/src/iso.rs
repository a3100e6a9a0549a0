//! The hybrid ISO: a live system that boots from a CD or a USB stick, under UEFI and BIOS.
//!
//! The system in it is the configuration's live variant ([`LIVE_PROFILE`]): its root file
//! system is the medium itself (ISO 9660, found by its volume label), and the kernel parameter
//! `strata.live=/`[`ROOT_IMAGE`] names the squashfs image of the machine's root tree that stage
//! 1 lays under a writable overlay. The medium holds:
//!
//! | path | what |
//! |---|---|
//! | `grub/grub.cfg`, `EFI/strata/*` | the boot menu and the kernels and initrds it names: the staged ESP, the same plan a disk gets |
//! | `EFI/BOOT/BOOTX64.EFI` | GRUB's EFI program, which finds the medium by its label |
//! | [`ROOT_IMAGE`] | the root tree (store, database, profile, `/etc/strata`), squashfs with zstd, every owner root |
//! | [`ELTORITO_IMAGE`] | GRUB's BIOS image for a CD: the El Torito boot entry for BIOS |
//! | [`EFI_IMAGE`] | a small FAT image holding `EFI/BOOT/BOOTX64.EFI`: the El Torito boot entry for UEFI |
//!
//! `xorriso` (in its `mkisofs` mode) writes the ISO 9660 file system with Rock Ridge names and
//! makes it hybrid: GRUB's `boot_hybrid.img` (from the system's GRUB package) in the MBR finds
//! the BIOS image on a USB stick, and an EFI system partition in the partition table points at
//! the FAT image, so firmware booting the stick as a disk finds GRUB as well. Times come from
//! `SOURCE_DATE_EPOCH`, which xorriso and our own writers follow, so the same toplevel gives
//! the same bytes.

use std::fs;
use std::path::Path;
use std::process::Command;

use strata_activate::manifest::ActivationManifest;
use strata_activate::resolve;
use strata_store::local::{delete_tree, link_or_copy_tree};

use crate::error::{io_err, Error};
use crate::fat;
use crate::grub::IsoBoot;
use crate::staged::{label_of, ImageIds, Staged};
use crate::tools::{find_tool, pin_times, run_tool};

/// The module `strata image --format iso` evaluates with the configuration, relative to
/// strata's module directory.
pub const LIVE_PROFILE: &str = "profiles/live-iso.nix";
/// Where the root image is on the medium; the live profile names it in `strata.live=`.
pub const ROOT_IMAGE: &str = "strata/root.squashfs";
/// GRUB's BIOS image for a CD, on the medium.
pub const ELTORITO_IMAGE: &str = "grub/i386-pc/eltorito.img";
/// The FAT image holding GRUB's EFI program, on the medium.
pub const EFI_IMAGE: &str = "grub/efi.img";
/// The El Torito boot catalogue, on the medium.
const BOOT_CATALOG: &str = "grub/boot.cat";

const MIB: u64 = 1 << 20;

/// The volume label of the live system `manifest` describes (toplevel `top` in the staged
/// `root`), or why it is not a live system: its root must be an `iso9660` file system named by
/// label, and its kernel parameters must name [`ROOT_IMAGE`].
pub fn live_label(root: &Path, top: &str, manifest: &ActivationManifest) -> Result<String, Error> {
    let not_live = |why: String| {
        Error::Other(format!(
            "{top} is not a live system ({why}); ISO images hold the configuration's live \
             variant, which strata builds with its module {LIVE_PROFILE}"
        ))
    };
    let fs = manifest
        .file_systems
        .iter()
        .find(|f| f.mount_point == "/")
        .ok_or_else(|| not_live("it declares no root file system".into()))?;
    if fs.fs_type != "iso9660" {
        return Err(not_live(format!(
            "its root file system is {}, not iso9660",
            fs.fs_type
        )));
    }
    let label = label_of(&fs.device)
        .ok_or_else(|| not_live(format!("its root {} is not named by label", fs.device)))?;
    let valid = !label.is_empty()
        && label.len() <= 32
        && label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(Error::Other(format!(
            "the ISO volume label {label:?} is not valid: at most 32 upper-case letters, \
             digits and '_' (isoImage.volumeID)"
        )));
    }
    let params_path = resolve(root, &format!("{top}/kernel-params"));
    let params = fs::read_to_string(&params_path).map_err(io_err("cannot read", &params_path))?;
    let wanted = format!("strata.live=/{ROOT_IMAGE}");
    if !params.split_whitespace().any(|p| p == wanted) {
        return Err(not_live(format!("its kernel parameters lack {wanted}")));
    }
    Ok(label)
}

/// GRUB's BIOS files for the medium labelled `label`, with `tool` (`grub-mkimage`) from the
/// modules directory `pc_modules` (`.../usr/lib/grub/i386-pc` of the system's grub-pc-bin).
pub fn iso_boot(tool: &Path, pc_modules: &Path, label: &str) -> Result<IsoBoot, Error> {
    let eltorito = crate::grub::eltorito_image(tool, pc_modules, label)?;
    let mbr_path = pc_modules.join("boot_hybrid.img");
    let hybrid_mbr = fs::read(&mbr_path).map_err(io_err("cannot read", &mbr_path))?;
    if hybrid_mbr.len() != 512 {
        return Err(Error::Other(format!(
            "{} is {} bytes, not one 512-byte sector",
            mbr_path.display(),
            hybrid_mbr.len()
        )));
    }
    Ok(IsoBoot {
        eltorito,
        hybrid_mbr,
    })
}

/// A program ISO images need, from the PATH.
fn tool(name: &str, package: &str) -> Result<std::path::PathBuf, Error> {
    find_tool(
        name,
        &format!("ISO images need {name} (Debian's {package}); install it"),
    )
}

/// The squashfs image of `root` at `out`: zstd at level 6 in 1 MiB blocks, root-owned, no
/// extended attributes, its own time stamp `epoch` (the files keep theirs, pinned while
/// staging), the same bytes from the same tree. Level 6 instead of zstd's default 15: measured
/// on a store, 7 times faster for 1.5 % more bytes, and reading is as fast.
pub fn make_squashfs(root: &Path, out: &Path, epoch: u64) -> Result<(), Error> {
    let mksquashfs = tool("mksquashfs", "squashfs-tools")?;
    let mut cmd = Command::new(mksquashfs);
    cmd.arg(root)
        .arg(out)
        .args([
            "-noappend",
            "-no-progress",
            "-quiet",
            "-no-xattrs",
            "-all-root",
        ])
        .args(["-comp", "zstd", "-Xcompression-level", "6", "-b", "1M"])
        .arg("-mkfs-time")
        .arg(epoch.to_string())
        // mksquashfs would set every file's time from it; the store's files keep theirs.
        .env_remove("SOURCE_DATE_EPOCH");
    run_tool(&mut cmd, "mksquashfs")
}

/// Writes the hybrid ISO for `staged` (a live system's, with [`Staged::iso`]) to `out`.
pub fn write_iso(staged: &Staged, ids: &ImageIds, epoch: u64, out: &Path) -> Result<(), Error> {
    let boot = staged.iso.as_ref().ok_or_else(|| {
        Error::Other("the staged system has no GRUB files for a medium (not a live system)".into())
    })?;
    let xorriso = tool("xorriso", "xorriso")?;
    let work = staged.work.path();
    // Written again from the start when called again on the same staged tree.
    let medium = work.join("medium");
    let efi_tree = work.join("efi-boot");
    delete_tree(&medium)?;
    delete_tree(&efi_tree)?;
    link_or_copy_tree(&staged.esp, &medium)?;
    let eltorito = medium.join(ELTORITO_IMAGE);
    if let Some(d) = eltorito.parent() {
        fs::create_dir_all(d).map_err(io_err("cannot create", d))?;
    }
    fs::write(&eltorito, &boot.eltorito).map_err(io_err("cannot write", &eltorito))?;

    // The UEFI boot image: GRUB's EFI program alone on a FAT file system just big enough.
    let efi_program = staged.esp.join("EFI/BOOT/BOOTX64.EFI");
    let program_dir = efi_tree.join("EFI/BOOT");
    fs::create_dir_all(&program_dir).map_err(io_err("cannot create", &program_dir))?;
    let program = program_dir.join("BOOTX64.EFI");
    fs::copy(&efi_program, &program).map_err(io_err("cannot copy to", &program))?;
    let program_len = fs::metadata(&program)
        .map_err(io_err("cannot read", &program))?
        .len();
    let efi_len = (program_len + MIB).div_ceil(MIB) * MIB;
    let efi_image = medium.join(EFI_IMAGE);
    {
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&efi_image)
            .map_err(io_err("cannot create", &efi_image))?;
        f.set_len(efi_len)
            .map_err(io_err("cannot size", &efi_image))?;
        fat::make_fat(
            &f,
            0,
            efi_len,
            "EFIBOOT",
            ids.serial("iso-efi"),
            &efi_tree,
            epoch,
        )?;
        f.sync_all().map_err(io_err("cannot sync", &efi_image))?;
    }

    let squashfs = medium.join(ROOT_IMAGE);
    if let Some(d) = squashfs.parent() {
        fs::create_dir_all(d).map_err(io_err("cannot create", d))?;
    }
    make_squashfs(&staged.root, &squashfs, epoch)?;

    // Every file and directory of the medium dated `epoch` (none is a store path).
    pin_times(&medium, None, epoch)?;
    let mbr = work.join("boot_hybrid.img");
    fs::write(&mbr, &boot.hybrid_mbr).map_err(io_err("cannot write", &mbr))?;
    let mut cmd = Command::new(xorriso);
    cmd.args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(out)
        .args(["-V", &staged.root_label, "-R", "-iso-level", "3"])
        // BIOS: El Torito from a CD, GRUB's hybrid MBR from a USB stick.
        .arg("--grub2-mbr")
        .arg(&mbr)
        .args([
            "--grub2-boot-info",
            "-b",
            ELTORITO_IMAGE,
            "-c",
            BOOT_CATALOG,
        ])
        .args(["-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"])
        // UEFI: El Torito's EFI entry from a CD, an EFI system partition on a USB stick.
        .args([
            "--efi-boot",
            EFI_IMAGE,
            "-efi-boot-part",
            "--efi-boot-image",
        ])
        .arg("--protective-msdos-label")
        .arg(&medium)
        .env("SOURCE_DATE_EPOCH", epoch.to_string());
    run_tool(&mut cmd, "xorriso")
}
