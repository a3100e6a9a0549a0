//! A system's image in each format, from its toplevel.
//!
//! [`stage`] lays out the machine's first state in a work directory beside the store (so the
//! store's files are hard-linked, not copied):
//!
//! - `root/`: the toplevel's closure in `nix/store` with its own database (registered at the
//!   build's time stamp), the system profile with generation 1, `etc/strata/configuration.nix`
//!   (the configuration it was built from, readable by root only: it may hold clear-text
//!   passwords) and `strata.lock` beside it, `etc/strata/machine`
//!   (which marks a machine strata set up, so `strata switch` may take it over), and the mount
//!   points; activation makes the rest of `/etc` and the users at first boot;
//! - `esp/`: the boot menu for every generation of the profile (`bootloader-cfg`, the same
//!   plan `strata switch` installs later) and the boot loader's program: systemd-boot, or
//!   GRUB's EFI program built from the system's GRUB package.
//!
//! Every file outside the store gets the time stamp `epoch`; GUIDs, UUIDs and serial numbers
//! are derived from the toplevel's hash ([`ImageIds`]). So the same toplevel gives the same
//! bytes in every format.
//!
//! - raw: GPT; a BIOS boot partition with GRUB's core when GRUB is the boot loader (its boot
//!   code in the MBR: the same disk boots on BIOS and UEFI); the ESP (FAT32, written by
//!   [`crate::fat`]); the root file system (ext4, [`crate::ext4`]).
//! - qcow2: the raw disk converted by `qemu-img convert`.
//! - tar: the root tree with the ESP's files under `boot/`, zstd-compressed ([`crate::tarball`]).
//! - iso: a live system's medium: the ESP's files, the root tree as a squashfs image, GRUB for
//!   UEFI and BIOS, hybrid for CDs and USB sticks ([`crate::iso`]).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_activate::manifest::BootLoader;
use strata_activate::{profile, resolve, switch};
use strata_bootloader_cfg as blc;
use strata_store::{LocalStore, StorePath};

use crate::gpt::{self, PartSize, PartitionRequest};
use crate::staged::label_of;
use crate::tools::{find_tool, pin_times, run_tool, temp_beside};
use crate::{ext4, fat, grub, iso};

pub(crate) use crate::error::io_err;
pub use crate::error::Error;
pub use crate::staged::{ImageIds, Staged};

/// The formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Raw,
    Qcow2,
    Iso,
    Tar,
}

/// A format name that is none of [`Format`]'s.
#[derive(Debug, thiserror::Error)]
#[error("unknown image format {0:?}: give raw, qcow2, iso or tar")]
pub struct UnknownFormat(pub String);

impl std::str::FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        match s {
            "raw" => Ok(Format::Raw),
            "qcow2" => Ok(Format::Qcow2),
            "iso" => Ok(Format::Iso),
            "tar" => Ok(Format::Tar),
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}

/// What an image is made from.
#[derive(Debug)]
pub struct ImageSpec<'a> {
    pub store: &'a LocalStore,
    pub toplevel: &'a StorePath,
    /// Copied to `/etc/strata/configuration.nix`.
    pub configuration: &'a Path,
    /// Copied to `/etc/strata/strata.lock`.
    pub lock: Option<&'a Path>,
    pub format: Format,
    /// The disk's size; `None` sizes it from the closure.
    pub size: Option<u64>,
    /// Free space on the root file system when the size is automatic.
    pub free: u64,
    /// The time stamp of every file outside the store (`SOURCE_DATE_EPOCH`).
    pub epoch: u64,
    pub out: &'a Path,
}

/// What was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageReport {
    pub size: u64,
    pub boot_loader: String,
    pub warnings: Vec<String>,
}

/// The package `boot-loader/<prefix>*` of the toplevel, where it is on disk.
fn loader_package(root: &Path, toplevel: &str, prefix: &str) -> Result<PathBuf, Error> {
    let dir = resolve(root, &format!("{toplevel}/boot-loader"));
    let rd = fs::read_dir(&dir).map_err(io_err("cannot read", &dir))?;
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(prefix) {
            return Ok(resolve(
                root,
                &format!("{toplevel}/boot-loader/{}", e.file_name().to_string_lossy()),
            ));
        }
    }
    Err(Error::Other(format!(
        "the system has no {prefix} package under {toplevel}/boot-loader (built by an older \
         strata?); rebuild it"
    )))
}

/// `grub-mkimage` from the PATH.
fn grub_mkimage() -> Result<PathBuf, Error> {
    find_tool(
        "grub-mkimage",
        "GRUB images need grub-mkimage (Debian's grub-common); GRUB's modules come from the \
         system's own packages",
    )
}

fn copy(from: &Path, to: &Path) -> Result<(), Error> {
    if let Some(d) = to.parent() {
        fs::create_dir_all(d).map_err(io_err("cannot create", d))?;
    }
    fs::copy(from, to).map_err(io_err("cannot copy to", to))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o644))
        .map_err(io_err("cannot chmod", to))?;
    Ok(())
}

/// Lays out the machine; see the module documentation.
pub fn stage(spec: &ImageSpec<'_>) -> Result<Staged, Error> {
    let store = spec.store;
    let top = store.print(spec.toplevel);
    let work = tempfile::Builder::new()
        .prefix(".strata-image-")
        .tempdir_in(store.root())
        .map_err(io_err("cannot create a work directory in", store.root()))?;
    let root = work.path().join("root");
    let esp = work.path().join("esp");
    {
        let mut s = LocalStore::open(&root, store.store_dir().clone())?;
        s.set_registration_time(Some(spec.epoch as i64));
        s.copy_closure_from(store, std::slice::from_ref(spec.toplevel))?;
    }
    // Only the database itself belongs in the image.
    for f in ["nix/var/nix/db/open.lock", "nix/var/nix/gc.lock"] {
        let _ = fs::remove_file(root.join(f));
    }
    let n = profile::add(&root, &top)?;
    profile::set_current(&root, n)?;
    let manifest = strata_activate::read_manifest(&root, &top)
        .map_err(|e| Error::Other(format!("{top}/activation.json: {e}")))?;

    let etc = root.join("etc/strata");
    copy(spec.configuration, &etc.join("configuration.nix"))?;
    // It may hold clear-text passwords (`initialPassword`): root's alone.
    let conf = etc.join("configuration.nix");
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o600))
        .map_err(io_err("cannot chmod", &conf))?;
    if let Some(lock) = spec.lock {
        copy(lock, &etc.join("strata.lock"))?;
    }
    fs::write(
        etc.join("machine"),
        "This machine was set up by strata; `strata switch` manages it.\n",
    )
    .map_err(io_err("cannot write", &etc))?;
    for (d, mode) in [
        ("boot", 0o755),
        ("dev", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("run", 0o755),
        ("tmp", 0o1777),
        ("var", 0o755),
        ("home", 0o755),
        ("root", 0o700),
        ("mnt", 0o755),
    ] {
        let p = root.join(d);
        fs::create_dir_all(&p).map_err(io_err("cannot create", &p))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))
            .map_err(io_err("cannot chmod", &p))?;
    }

    let live = spec.format == Format::Iso;
    let root_fs = manifest.file_systems.iter().find(|f| f.mount_point == "/");
    let root_label = if live {
        iso::live_label(&root, &top, &manifest)?
    } else {
        root_fs
            .and_then(|f| label_of(&f.device))
            .unwrap_or_else(|| "strata".into())
    };
    let boot_fs = manifest
        .file_systems
        .iter()
        .find(|f| f.mount_point == manifest.boot_loader.boot_dir);
    // A medium holds the menu itself.
    let esp_label = match boot_fs.and_then(|f| label_of(&f.device)) {
        _ if live => root_label.clone(),
        Some(l) => l,
        None => "ESP".into(),
    };
    let mut warnings = Vec::new();
    if boot_fs.is_none() && !live {
        warnings.push(format!(
            "no file system is declared at {}: the machine will not update the boot menu on \
             the EFI system partition when it switches (declare fileSystems.\"/boot\" = {{ \
             device = \"/dev/disk/by-label/{esp_label}\"; fsType = \"vfat\"; }})",
            manifest.boot_loader.boot_dir
        ));
    }

    // The menu, exactly as a switch writes it, then the boot loader's program.
    let (plan, _) = switch::boot_plan(&root, n, &manifest.boot_loader)?;
    blc::install(&plan, &esp, &|p| resolve(&root, p)).map_err(|e| Error::Other(e.to_string()))?;
    let (bios, iso) = install_loader(&root, &top, &manifest.boot_loader, &esp, &esp_label, live)?;
    pin_times(&root, Some(&root.join("nix/store")), spec.epoch)?;
    Ok(Staged {
        work,
        root,
        esp,
        manifest,
        bios,
        iso,
        root_label,
        esp_label,
        warnings,
    })
}

/// Puts the boot loader's EFI program on the ESP; returns GRUB's BIOS files for GRUB: the
/// boot code of a disk, or (`live`) those of a medium.
fn install_loader(
    root: &Path,
    top: &str,
    loader: &BootLoader,
    esp: &Path,
    esp_label: &str,
    live: bool,
) -> Result<(Option<grub::BiosBoot>, Option<grub::IsoBoot>), Error> {
    let efi_boot = esp.join("EFI/BOOT");
    fs::create_dir_all(&efi_boot).map_err(io_err("cannot create", &efi_boot))?;
    if loader.kind == "grub" {
        let tool = grub_mkimage()?;
        let efi_mods =
            loader_package(root, top, "grub-efi-amd64-bin")?.join("usr/lib/grub/x86_64-efi");
        grub::efi_image(&tool, &efi_mods, esp_label, &efi_boot.join("BOOTX64.EFI"))?;
        let pc_mods = loader_package(root, top, "grub-pc-bin")?.join("usr/lib/grub/i386-pc");
        if live {
            Ok((None, Some(iso::iso_boot(&tool, &pc_mods, esp_label)?)))
        } else {
            Ok((Some(grub::bios_core(&tool, &pc_mods, esp_label)?), None))
        }
    } else if live {
        Err(Error::Other(
            "a live medium boots with GRUB; this system's boot loader is systemd-boot".into(),
        ))
    } else {
        let efi = loader_package(root, top, "systemd-boot-efi")?
            .join("usr/lib/systemd/boot/efi/systemd-bootx64.efi");
        copy(&efi, &efi_boot.join("BOOTX64.EFI"))?;
        copy(&efi, &esp.join("EFI/systemd/systemd-bootx64.efi"))?;
        Ok((None, None))
    }
}

const MIB: u64 = 1 << 20;
/// The ESP holds the menus and a kernel and initrd per generation: room for about 15.
pub const ESP_MIN: u64 = 256 * MIB;
/// GRUB's BIOS boot partition.
const BIOS_BOOT_SIZE: u64 = MIB;

/// The sizes of a raw disk's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSizes {
    pub disk: u64,
    pub bios: u64,
    pub esp: u64,
    pub root: u64,
    pub inodes: u64,
}

/// Sizes a raw disk for `staged`: the ESP at least [`ESP_MIN`], the root file system from
/// its tree plus `free` ([`ext4::size_for`]), 1 MiB before the partitions and 1 MiB after
/// (the GPT and its backup). An explicit `size` too small for the same parts (without the
/// free space) is refused.
pub fn disk_sizes(staged: &Staged, size: Option<u64>, free: u64) -> Result<DiskSizes, Error> {
    let esp = fat::fat_size_for_dir(&staged.esp)?
        .max(ESP_MIN)
        .div_ceil(MIB)
        * MIB;
    let bios = if staged.bios.is_some() {
        BIOS_BOOT_SIZE
    } else {
        0
    };
    let usage = ext4::measure(&staged.root)?;
    let fixed = 2 * MIB + bios + esp;
    match size {
        None => {
            let root = ext4::size_for(usage, free, free / 16384).div_ceil(MIB) * MIB;
            Ok(DiskSizes {
                disk: fixed + root,
                bios,
                esp,
                root,
                inodes: ext4::inodes_for(usage, free),
            })
        }
        Some(size) => {
            let least = fixed + ext4::size_for(usage, 0, 0).div_ceil(MIB) * MIB;
            if size < least {
                return Err(Error::Other(format!(
                    "the image needs at least {} MiB ({} MiB of it the system's files); {} MiB \
                     was asked for, and nothing was written",
                    least.div_ceil(MIB),
                    (least - fixed).div_ceil(MIB),
                    size / MIB
                )));
            }
            let size = size / MIB * MIB;
            let root = size - fixed;
            let free = root.saturating_sub(ext4::size_for(usage, 0, 0));
            Ok(DiskSizes {
                disk: size,
                bios,
                esp,
                root,
                inodes: ext4::inodes_for(usage, free),
            })
        }
    }
}

/// Writes the raw disk for `staged` to `out`.
pub fn write_raw(
    staged: &Staged,
    sizes: &DiskSizes,
    ids: &ImageIds,
    epoch: u64,
    out: &Path,
) -> Result<(), Error> {
    let mut requests = Vec::new();
    if sizes.bios > 0 {
        requests.push(PartitionRequest {
            name: "BIOS boot".into(),
            type_guid: gpt::BIOS_BOOT_TYPE,
            unique_guid: ids.guid("bios-boot-partition"),
            size: PartSize::Bytes(sizes.bios),
            attributes: 0,
        });
    }
    requests.push(PartitionRequest {
        name: "EFI system partition".into(),
        type_guid: gpt::ESP_TYPE,
        unique_guid: ids.guid("esp-partition"),
        size: PartSize::Bytes(sizes.esp),
        attributes: 0,
    });
    requests.push(PartitionRequest {
        name: "strata root".into(),
        type_guid: gpt::LINUX_FS_TYPE,
        unique_guid: ids.guid("root-partition"),
        size: PartSize::Rest,
        attributes: 0,
    });
    let parts = gpt::plan(sizes.disk, &requests)?;
    let _ = fs::remove_file(out);
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(io_err("cannot create", out))?;
    file.set_len(sizes.disk)
        .map_err(io_err("cannot size", out))?;
    gpt::write_gpt(&file, sizes.disk, ids.guid("disk"), &parts)?;
    let (esp_part, root_part) = (&parts[parts.len() - 2], &parts[parts.len() - 1]);
    fat::make_fat(
        &file,
        esp_part.offset(),
        esp_part.size(),
        &staged.esp_label,
        ids.serial("esp"),
        &staged.esp,
        epoch,
    )?;
    if let Some(bios) = &staged.bios {
        let mut f = file.try_clone().map_err(io_err("cannot reopen", out))?;
        grub::embed_bios(
            &mut f,
            bios,
            parts[0].first_lba,
            parts[0].last_lba - parts[0].first_lba + 1,
        )?;
    }
    file.sync_all().map_err(io_err("cannot sync", out))?;
    drop(file);
    ext4::make_ext4(
        out,
        root_part.offset(),
        root_part.size(),
        &staged.root,
        &ext4::Ext4Options {
            label: staged.root_label.clone(),
            uuid: ids.uuid("root-fs"),
            hash_seed: ids.uuid("root-fs-hash-seed"),
            inodes: sizes.inodes,
            epoch,
        },
    )?;
    Ok(())
}

/// Converts the raw disk `raw` into a qcow2 image `out` with `qemu-img`.
pub fn write_qcow2(raw: &Path, out: &Path) -> Result<(), Error> {
    let tool = find_tool(
        "qemu-img",
        "qcow2 images need qemu-img (Debian's qemu-utils); install it",
    )?;
    run_tool(
        Command::new(tool)
            .args(["convert", "-f", "raw", "-O", "qcow2"])
            .arg(raw)
            .arg(out),
        "qemu-img convert",
    )
}

/// Makes the image `spec` asks for.
pub fn build_image(spec: &ImageSpec<'_>) -> Result<ImageReport, Error> {
    let staged = stage(spec)?;
    let ids = ImageIds::new(spec.toplevel);
    let mut report = ImageReport {
        boot_loader: staged.manifest.boot_loader.kind.clone(),
        warnings: staged.warnings.clone(),
        ..Default::default()
    };
    let tmp_out = temp_beside(spec.out);
    let result = (|| match spec.format {
        Format::Raw => {
            let sizes = disk_sizes(&staged, spec.size, spec.free)?;
            write_raw(&staged, &sizes, &ids, spec.epoch, &tmp_out)?;
            Ok(())
        }
        Format::Qcow2 => {
            let sizes = disk_sizes(&staged, spec.size, spec.free)?;
            let raw = staged.work.path().join("disk.raw");
            write_raw(&staged, &sizes, &ids, spec.epoch, &raw)?;
            write_qcow2(&raw, &tmp_out)
        }
        Format::Tar => crate::tarball::write_tar(&staged, &tmp_out),
        Format::Iso => iso::write_iso(&staged, &ids, spec.epoch, &tmp_out),
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp_out);
        return Err(e);
    }
    fs::rename(&tmp_out, spec.out).map_err(io_err("cannot move the image to", spec.out))?;
    report.size = fs::metadata(spec.out)
        .map_err(io_err("cannot read", spec.out))?
        .len();
    Ok(report)
}
