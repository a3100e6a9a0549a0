//! `strata build-vm`'s launcher: a shell script that boots a machine's disk image in QEMU with
//! the console on the terminal (`-nographic`; ctrl-a x quits), as `nixos-rebuild build-vm`'s
//! `run-<hostname>-vm` does.
//!
//! GRUB machines boot through SeaBIOS (faster to start than UEFI under emulation);
//! systemd-boot machines through OVMF, with the variable store beside the disk. TCG unless
//! `STRATA_VM_ACCEL=kvm` is set: KVM is used only when the user says it works.
//!
//! The machine gets QEMU's user-mode network (its DHCP server, DNS relay and NAT; no root
//! needed on the host). When it runs an SSH server, the first of its ports is forwarded from
//! a port on the host's loopback: `STRATA_VM_SSH_PORT`, else the first free one from the port
//! `build-vm` found free (2222 or above), which the launcher prints with the `ssh` command to
//! use. `QEMU_NET_OPTS` adds options to the network (`restrict=on`, more `hostfwd=`), as
//! NixOS's VMs take it.

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
    /// How to log in over SSH (the launcher may pick a later port if this one is taken).
    pub ssh: Option<Ssh>,
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
    let ssh = manifest.ssh_ports.first().map(|&guest_port| Ssh {
        guest_port,
        host_port: free_port(DEFAULT_SSH_PORT),
        user: manifest
            .users
            .iter()
            .find(|u| u.is_normal_user)
            .map_or_else(|| "root".to_owned(), |u| u.name.clone()),
    });
    let script = launcher(
        &host,
        &disk,
        uefi.then(|| (Path::new(OVMF_CODE), vars.as_path())),
        ssh.as_ref(),
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
        ssh,
        warnings: report.warnings,
    })
}

/// The host port `build-vm` starts looking for a free one from.
pub const DEFAULT_SSH_PORT: u16 = 2222;

/// How the host reaches a VM's SSH server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssh {
    /// The port the guest's sshd listens on.
    pub guest_port: u16,
    /// The host port forwarded to it (on 127.0.0.1).
    pub host_port: u16,
    /// Who to log in as: the first normal user, else root.
    pub user: String,
}

impl Ssh {
    /// The command that logs in.
    pub fn command(&self) -> String {
        format!("ssh -p {} {}@localhost", self.host_port, self.user)
    }
}

/// The first port from `from` that nothing on 127.0.0.1 listens on now (`from` if none is).
fn free_port(from: u16) -> u16 {
    (from..=u16::MAX)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .unwrap_or(from)
}

/// The launcher for `disk` (a qcow2 image); `uefi` gives (firmware code, variable store);
/// `ssh` the forward to the guest's SSH server.
pub fn launcher(
    host: &str,
    disk: &Path,
    uefi: Option<(&Path, &Path)>,
    ssh: Option<&Ssh>,
) -> String {
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    let mut s = format!(
        "#!/bin/sh\n\
         # Boots the strata machine {host} in QEMU, its console on this terminal (ctrl-a x\n\
         # quits). Made by `strata build-vm`; the disk is made anew by each build-vm.\n\
         # STRATA_VM_MEMORY (MiB, default 1024) and STRATA_VM_ACCEL (tcg or kvm) adjust it;\n\
         # QEMU_NET_OPTS adds options to its user-mode network (restrict=on, hostfwd=...);\n\
         # further arguments go to QEMU.\n"
    );
    let mut net = String::from("user,model=virtio-net-pci");
    if let Some(ssh) = ssh {
        // A port is taken when /proc/net/tcp{,6} lists it listening (state 0A).
        s.push_str(&format!(
            "# STRATA_VM_SSH_PORT is the host port forwarded to the machine's SSH server; by\n\
             # default the first free one from {from}.\n\
             port=\"${{STRATA_VM_SSH_PORT:-}}\"\n\
             if [ -z \"$port\" ]; then\n\
             \x20 port={from}\n\
             \x20 while grep -qiE \":$(printf '%04X' \"$port\") [0-9A-F]+:[0-9A-F]{{4}} 0A \" /proc/net/tcp /proc/net/tcp6 2>/dev/null; do\n\
             \x20   port=$((port + 1))\n\
             \x20 done\n\
             fi\n\
             echo \"{host}: log in with: ssh -p $port {user}@localhost\" >&2\n",
            from = ssh.host_port,
            user = ssh.user,
        ));
        net.push_str(&format!(",hostfwd=tcp:127.0.0.1:$port-:{}", ssh.guest_port));
    }
    s.push_str(&format!(
        "exec qemu-system-x86_64 -machine q35 -accel \"${{STRATA_VM_ACCEL:-tcg}}\" \\\n\
         \x20 -m \"${{STRATA_VM_MEMORY:-1024}}\" -smp 2 -nographic \\\n\
         \x20 -nic \"{net}${{QEMU_NET_OPTS:+,$QEMU_NET_OPTS}}\" \\\n"
    ));
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
        let bios = launcher("saguaro", Path::new("/home/a/saguaro.qcow2"), None, None);
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
            None,
        );
        assert!(uefi.contains("readonly=on,file='/usr/share/OVMF/OVMF_CODE.fd'"));
        assert!(uefi.contains("file='/d/it'\\''s.qcow2'"), "{uefi}");
        assert!(
            uefi.contains("-nic \"user,model=virtio-net-pci${QEMU_NET_OPTS:+,$QEMU_NET_OPTS}\"")
        );
    }

    /// The launcher's shell finds a free port past busy ones and forwards it to the guest's.
    #[test]
    fn ssh_forward() {
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let from = busy.local_addr().unwrap().port();
        let ssh = Ssh {
            guest_port: 2022,
            host_port: from,
            user: "alice".into(),
        };
        let script = launcher("m", Path::new("/d/m.qcow2"), None, Some(&ssh));
        assert!(
            script.contains("hostfwd=tcp:127.0.0.1:$port-:2022"),
            "{script}"
        );
        // Run the port-choosing part with QEMU replaced by printing the -nic argument.
        let head = script.split("exec qemu-system-x86_64").next().unwrap();
        let probe = format!("{head}echo \"$port\"\n");
        let run = |env: &[(&str, &str)]| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&probe)
                .env_remove("STRATA_VM_SSH_PORT")
                .envs(env.iter().copied())
                .output()
                .unwrap();
            assert!(out.status.success());
            (
                String::from_utf8(out.stdout).unwrap().trim().to_owned(),
                String::from_utf8(out.stderr).unwrap(),
            )
        };
        let (port, said) = run(&[]);
        let port: u16 = port.parse().unwrap();
        assert!(port > from, "{port} is taken by the test's listener");
        assert!(
            said.contains(&format!("ssh -p {port} alice@localhost")),
            "{said}"
        );
        let (chosen, _) = run(&[("STRATA_VM_SSH_PORT", "40022")]);
        assert_eq!(chosen, "40022");
        drop(busy);
    }
}
