//! `strata build-vm`'s launcher: a shell script that boots a machine's disk image in QEMU with
//! the console on the terminal (`-nographic`; ctrl-a x quits), as `nixos-rebuild build-vm`'s
//! `run-<hostname>-vm` does.
//!
//! GRUB machines boot through SeaBIOS (faster to start than UEFI under emulation);
//! systemd-boot machines through OVMF, with the variable store beside the disk. TCG unless
//! `STRATA_VM_ACCEL=kvm` is set: KVM is used only when the user says it works.

use std::path::Path;

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
