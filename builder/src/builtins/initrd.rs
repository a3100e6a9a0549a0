//! `builtin:strata-initrd`: a system's initrd.
//!
//! Attributes: `kernel` (the system's kernel, `builtin:strata-kernel-modules`' output, holding
//! `boot/vmlinuz-<version>` and `lib/modules/<version>/`), `modules` (names), `init` (the stage-1 program), `busybox` (a static busybox for the
//! emergency shell; may be empty), `rootDevice`, `rootFsType`, `rootOptions`, `compression`
//! (`zstd`, `gzip` or `none`). Output: `$out/initrd`, a newc archive holding `init` (the
//! program, mode 0755), `bin/busybox` with `bin/<applet>` links for [`INITRD_APPLETS`], the
//! closure of the named modules with
//! their `modules.dep` under `lib/modules/<version>/` (decompressed: the system's `.ko.xz`
//! become `.ko`, which stage 1 loads with `finit_module` as they are, and the initrd's one
//! compression covers them together, better than each alone), `dev/console`, and
//! `etc/strata-initrd.conf`: lines `key=value` that stage 1 reads before the kernel command
//! line (whose values win): `root=`, `rootfstype=`, `rootflags=`, `kernel=<version>`, then one
//! `module=<name>` per module file, in load order (each after its dependencies). Also
//! `$out/modules`: the same module names, one a line, for people and tests.
//!
//! The optional attribute `microcode` (unpacked packages, space-separated: Debian's
//! `intel-microcode`, `amd64-microcode`) puts the early microcode archive
//! ([`microcode_archive`]) before the compressed image in `$out/initrd`: every file of the
//! packages' `lib/firmware/intel-ucode/` concatenated in name order as Intel's, every
//! `lib/firmware/amd-ucode/*.bin` as AMD's (`usr/lib/firmware/` is looked in too). A package
//! holding neither is an error. Without the attribute the output is as it was.
//!
//! Must not: choose the modules or the init (the configuration does, through the derivation).

use std::fs;
use std::path::Path;

use std::os::unix::fs::PermissionsExt as _;

use super::{file_err, find_kernel, BuiltinContext, BuiltinError};
use crate::compress::Compression;
use crate::initrd::cpio::source_date_epoch;
use crate::initrd::modules::ModulesDir;
use crate::initrd::{build_initrd, microcode_archive};

/// The name of the stage-1 configuration file inside the initrd.
pub const INITRD_CONF: &str = "etc/strata-initrd.conf";

/// The busybox applets the initrd's emergency shell has as commands.
pub const INITRD_APPLETS: &[&str] = &[
    "sh",
    "ls",
    "cat",
    "echo",
    "mount",
    "umount",
    "mkdir",
    "ln",
    "rm",
    "cp",
    "mv",
    "dmesg",
    "insmod",
    "lsmod",
    "modprobe",
    "blkid",
    "find",
    "grep",
    "less",
    "vi",
    "ps",
    "kill",
    "sleep",
    "reboot",
    "poweroff",
    "switch_root",
];

/// `builtin:strata-initrd`; see the module documentation.
pub(super) fn run(cx: &mut BuiltinContext<'_>) -> Result<(), BuiltinError> {
    let kernel = cx.attr("kernel")?.to_owned();
    let kernel_real = cx.input("kernel", &kernel)?;
    let (_, kernel_root, version) = find_kernel(&[(kernel, kernel_real)])?;
    let init = cx.input("init", cx.attr("init")?)?;
    let compression = match cx.attr("compression")? {
        "zstd" => Compression::Zstd,
        "gzip" => Compression::Gzip,
        "none" => Compression::None,
        other => return Err(BuiltinError::UnknownCompression(other.to_owned())),
    };
    let wanted: Vec<&str> = cx.attr("modules")?.split_whitespace().collect();
    let dir = ModulesDir::open(&kernel_root.join("lib/modules").join(&version))?;
    let closure = dir.closure(&wanted)?;
    let _ = writeln!(
        cx.log,
        "kernel {version}: {} module files for {} wanted modules ({} built in)",
        closure.modules.len(),
        wanted.len(),
        closure.builtin.len()
    );

    let tree = tempfile::Builder::new()
        .prefix("initrd-tree")
        .tempdir()
        .map_err(file_err("create", &std::env::temp_dir()))?;
    dir.stage_with(&closure, tree.path(), true)?;
    let init_dst = tree.path().join("init");
    fs::copy(&init, &init_dst).map_err(file_err("copy", &init))?;
    fs::set_permissions(&init_dst, fs::Permissions::from_mode(0o755))
        .map_err(file_err("make executable", &init_dst))?;
    let busybox = cx.attr("busybox")?;
    if !busybox.is_empty() {
        let src = cx.input("busybox", busybox)?;
        let bin = tree.path().join("bin");
        fs::create_dir_all(&bin).map_err(file_err("create", &bin))?;
        let dst = bin.join("busybox");
        fs::copy(&src, &dst).map_err(file_err("copy", &src))?;
        fs::set_permissions(&dst, fs::Permissions::from_mode(0o755))
            .map_err(file_err("make executable", &dst))?;
        for applet in INITRD_APPLETS {
            let link = bin.join(applet);
            std::os::unix::fs::symlink("busybox", &link).map_err(file_err("create", &link))?;
        }
    }
    let mut conf =
        String::from("# strata stage 1: read before the kernel command line, whose values win.\n");
    for (key, attr) in [
        ("root", "rootDevice"),
        ("rootfstype", "rootFsType"),
        ("rootflags", "rootOptions"),
    ] {
        let v = cx.attr(attr)?;
        if v.contains('\n') {
            return Err(BuiltinError::LineBreak(attr));
        }
        if !v.is_empty() {
            conf.push_str(&format!("{key}={v}\n"));
        }
    }
    conf.push_str(&format!("kernel={version}\n"));
    let mut names = String::new();
    for m in &closure.modules {
        conf.push_str(&format!("module={}\n", m.name));
        names.push_str(&m.name);
        names.push('\n');
    }
    let etc = tree.path().join("etc");
    fs::create_dir_all(&etc).map_err(file_err("create", &etc))?;
    let conf_path = tree.path().join(INITRD_CONF);
    fs::write(&conf_path, conf).map_err(file_err("write", &conf_path))?;

    let mtime = source_date_epoch()?.unwrap_or(1);
    let mut image = Vec::new();
    if cx.drv.env.contains_key("microcode") {
        let (intel, amd) = collect_microcode(&cx.inputs("microcode")?)?;
        let _ = writeln!(
            cx.log,
            "microcode: {} bytes for Intel, {} bytes for AMD",
            intel.len(),
            amd.len()
        );
        image = microcode_archive(&intel, &amd, mtime)?;
    }
    image.extend_from_slice(&build_initrd(tree.path(), compression, mtime)?);
    fs::create_dir_all(cx.out).map_err(file_err("create", cx.out))?;
    for (name, data) in [("initrd", image.as_slice()), ("modules", names.as_bytes())] {
        let path = cx.out.join(name);
        fs::write(&path, data).map_err(file_err("write", &path))?;
    }
    let _ = writeln!(cx.log, "initrd: {} bytes", image.len());
    Ok(())
}

/// The regular files of `dir` whose names `keep` accepts, in name order (none when `dir` does
/// not exist).
fn files_in(dir: &Path, keep: fn(&str) -> bool) -> Result<Vec<std::path::PathBuf>, BuiltinError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file_err("read", dir)(e)),
    };
    let mut files = Vec::new();
    for e in rd {
        let e = e.map_err(file_err("read", dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ty = e.file_type().map_err(file_err("read", &e.path()))?;
        if ty.is_file() && keep(&name) {
            files.push(e.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Intel's and AMD's microcode updates of the unpacked `packages`, each the concatenation of
/// its files in name order (package after package).
fn collect_microcode(
    packages: &[(String, std::path::PathBuf)],
) -> Result<(Vec<u8>, Vec<u8>), BuiltinError> {
    let (mut intel, mut amd) = (Vec::new(), Vec::new());
    for (logical, real) in packages {
        let mut found = false;
        for firmware in ["lib/firmware", "usr/lib/firmware"] {
            let firmware = real.join(firmware);
            for (dir, keep, into) in [
                (
                    "intel-ucode",
                    (|_: &str| true) as fn(&str) -> bool,
                    &mut intel,
                ),
                ("amd-ucode", |n: &str| n.ends_with(".bin"), &mut amd),
            ] {
                for f in files_in(&firmware.join(dir), keep)? {
                    into.extend_from_slice(&fs::read(&f).map_err(file_err("read", &f))?);
                    found = true;
                }
            }
        }
        if !found {
            return Err(BuiltinError::BadDerivation(format!(
                "microcode package '{logical}' holds no lib/firmware/intel-ucode/ files and no \
                 lib/firmware/amd-ucode/*.bin"
            )));
        }
    }
    Ok((intel, amd))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn microcode_is_concatenated_in_name_order_per_vendor() {
        let t = tempfile::tempdir().unwrap();
        let intel = t.path().join("intel");
        let amd = t.path().join("amd");
        let none = t.path().join("none");
        fs::create_dir_all(intel.join("lib/firmware/intel-ucode")).unwrap();
        fs::create_dir_all(amd.join("usr/lib/firmware/amd-ucode")).unwrap();
        fs::create_dir_all(none.join("usr/share/doc")).unwrap();
        for (name, data) in [("06-9e-0d", "B"), ("06-8e-09", "A"), ("06-a5-05", "C")] {
            fs::write(intel.join("lib/firmware/intel-ucode").join(name), data).unwrap();
        }
        for (name, data) in [
            ("microcode_amd_fam19h.bin", "2"),
            ("microcode_amd.bin", "1"),
            ("microcode_amd_fam19h.bin.asc", "signature"),
        ] {
            fs::write(amd.join("usr/lib/firmware/amd-ucode").join(name), data).unwrap();
        }
        let pkg = |p: &Path| (format!("/nix/store/x-{}", p.display()), p.to_owned());
        let (i, a) = collect_microcode(&[pkg(&intel), pkg(&amd)]).unwrap();
        assert_eq!((i.as_slice(), a.as_slice()), (&b"ABC"[..], &b"12"[..]));
        let e = collect_microcode(&[pkg(&none)]).unwrap_err().to_string();
        assert!(e.contains("holds no lib/firmware/intel-ucode/"), "{e}");
        assert!(e.contains(&none.display().to_string()), "{e}");
    }
}
