//! `strata build-vm`'s launcher: a shell script that boots a machine's disk image in QEMU with
//! the console on the terminal (`-nographic`; ctrl-a x quits), as `nixos-rebuild build-vm`'s
//! `run-<hostname>-vm` does.
//!
//! GRUB machines boot through SeaBIOS (faster to start than UEFI under emulation);
//! systemd-boot machines through OVMF, with the variable store beside the disk. TCG unless
//! `STRATA_VM_ACCEL=kvm` is set: KVM is used only when the user says it works.

use std::fs;
use std::path::{Path, PathBuf};

use strata_store::{LocalStore, StorePath};

use crate::assemble::{build_image, Format, ImageSpec};
use crate::error::{io_err, Error};
use crate::tools::temp_beside;

/// Where Debian's OVMF keeps UEFI's firmware code and its variable store.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";

/// What `strata build-vm` makes a machine from.
#[derive(Debug)]
pub struct VmSpec<'a> {
    pub store: &'a mut LocalStore,
    pub toplevel: &'a StorePath,
    /// Copied to the disk's `/etc/strata/configuration.nix`.
    pub configuration: &'a Path,
    /// Copied to the disk's `/etc/strata/strata.lock`.
    pub lock: Option<&'a Path>,
    /// Free space on the disk's root file system.
    pub free: u64,
    /// Where the disk (`<hostname>.qcow2`) and a UEFI machine's variable store go.
    pub dir: &'a Path,
    /// The link to the launcher's store path (a GC root).
    pub out_link: &'a Path,
}

/// What `strata build-vm` made.
#[derive(Debug, Clone)]
pub struct VmReport {
    pub host: String,
    pub disk: PathBuf,
    /// The store path holding `bin/run-<hostname>-vm`.
    pub launcher: StorePath,
    pub warnings: Vec<String>,
}

/// Writes the machine `spec` describes: its disk, for UEFI machines a variable store beside
/// it, and the launcher as a store path linked from `out_link`. Every file is written under a
/// name of its own and renamed into place, so two builds in one directory at once each leave
/// whole files.
pub fn build_vm(spec: VmSpec<'_>) -> Result<VmReport, Error> {
    let top = spec.store.print(spec.toplevel);
    let manifest = strata_activate::read_manifest(spec.store.root(), &top)?;
    let host = if manifest.host_name.is_empty() {
        "strata".to_owned()
    } else {
        manifest.host_name.clone()
    };
    let disk = spec.dir.join(format!("{host}.qcow2"));
    let uefi = manifest.boot_loader.kind != "grub";
    let vars = spec.dir.join(format!("{host}-efivars.fd"));
    if uefi && !Path::new(OVMF_CODE).is_file() {
        return Err(Error::Other(format!(
            "{host} boots with systemd-boot, which needs UEFI firmware: install Debian's ovmf \
             ({OVMF_CODE} is missing)"
        )));
    }
    let report = build_image(&ImageSpec {
        store: &*spec.store,
        toplevel: spec.toplevel,
        configuration: spec.configuration,
        lock: spec.lock,
        format: Format::Qcow2,
        size: None,
        free: spec.free,
        epoch: 1,
        out: &disk,
    })?;
    if uefi {
        let tmp = temp_beside(&vars);
        let copied = fs::copy(OVMF_VARS, &tmp)
            .map_err(io_err("cannot copy the UEFI variable store to", &tmp))
            .and_then(|_| fs::rename(&tmp, &vars).map_err(io_err("cannot write", &vars)));
        if let Err(e) = copied {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    }
    let script = launcher(
        &host,
        &disk,
        uefi.then(|| (Path::new(OVMF_CODE), vars.as_path())),
    );
    // The launcher goes into the store, like any build result.
    let stage = tempfile::tempdir().map_err(io_err(
        "cannot create a temporary directory in",
        &std::env::temp_dir(),
    ))?;
    let bin = stage.path().join("bin");
    fs::create_dir_all(&bin).map_err(io_err("cannot create", &bin))?;
    let run = bin.join(format!("run-{host}-vm"));
    fs::write(&run, script).map_err(io_err("cannot write", &run))?;
    fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(io_err("cannot make executable", &run))?;
    let info = spec
        .store
        .add_path(stage.path(), Some(&format!("{host}-vm")))?;
    spec.store.add_indirect_root(spec.out_link, &info.path)?;
    // The user runs the launcher through the link: where the store is kept elsewhere than at
    // its logical place, the link points at the physical copy (still a root to the GC).
    let real = spec.store.real_path(&info.path);
    if real != Path::new(&spec.store.print(&info.path)) {
        let tmp = temp_beside(spec.out_link);
        std::os::unix::fs::symlink(&real, &tmp).map_err(io_err("cannot create", &tmp))?;
        if let Err(e) = fs::rename(&tmp, spec.out_link) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err("cannot link", spec.out_link)(e));
        }
    }
    Ok(VmReport {
        host,
        disk,
        launcher: info.path,
        warnings: report.warnings,
    })
}

/// The launcher for `disk` (a qcow2 image); `uefi` gives (firmware code, variable store).
pub fn launcher(host: &str, disk: &Path, uefi: Option<(&Path, &Path)>) -> String {
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    let mut s = format!(
        "#!/bin/sh\n\
         # Boots the strata machine {host} in QEMU, its console on this terminal (ctrl-a x\n\
         # quits). Made by `strata build-vm`; the disk is made anew by each build-vm.\n\
         # STRATA_VM_MEMORY (MiB, default 1024) and STRATA_VM_ACCEL (tcg or kvm) adjust it;\n\
         # further arguments go to QEMU.\n\
         exec qemu-system-x86_64 -machine q35 -accel \"${{STRATA_VM_ACCEL:-tcg}}\" \\\n\
         \x20 -m \"${{STRATA_VM_MEMORY:-1024}}\" -smp 2 -nographic -nic none \\\n"
    );
    if let Some((code, vars)) = uefi {
        s.push_str(&format!(
            "  -drive if=pflash,format=raw,readonly=on,file={} \\\n  -drive if=pflash,format=raw,file={} \\\n",
            q(code),
            q(vars)
        ));
    }
    s.push_str(&format!(
        "  -drive file={},if=virtio,format=qcow2 \"$@\"\n",
        q(disk)
    ));
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn launchers() {
        let bios = launcher("saguaro", Path::new("/home/a/saguaro.qcow2"), None);
        assert!(bios.starts_with("#!/bin/sh\n"));
        assert!(bios.contains("-drive file='/home/a/saguaro.qcow2',if=virtio,format=qcow2 \"$@\""));
        assert!(!bios.contains("pflash"));
        let uefi = launcher(
            "x",
            Path::new("/d/it's.qcow2"),
            Some((
                Path::new("/usr/share/OVMF/OVMF_CODE.fd"),
                Path::new("/d/vars.fd"),
            )),
        );
        assert!(uefi.contains("readonly=on,file='/usr/share/OVMF/OVMF_CODE.fd'"));
        assert!(uefi.contains("file='/d/it'\\''s.qcow2'"), "{uefi}");
    }
}
