//! `builtin:strata-toplevel`: a system's toplevel.
//!
//! Attributes: `kernelPackages`, `initrd`, `init`, `sw`, `bootLoader`, `etc`, `manifest`, `strata`, `label`,
//! `kernelParams` (a JSON list), `hostSystem`. Output, NixOS's layout where NixOS
//! has the same thing:
//!
//! | entry | what |
//! |---|---|
//! | `kernel` | link to the kernel image (`<package>/boot/vmlinuz-<version>`) |
//! | `kernel-modules` | link to the package holding `lib/modules/<version>/` |
//! | `kernel-version` | the version, a line |
//! | `kernel-packages` | every package of `kernelPackages`, a line each (so they are in the closure and a machine can rebuild its initrd and toplevel offline) |
//! | `initrd` | link to `<initrd>/initrd` |
//! | `init` | link to strata's init; stage 2 finds its generation from the path it was started as |
//! | `sw` | link to the joined system packages |
//! | `etc` | link to the static `/etc` tree |
//! | `activation.json` | link to the activation manifest |
//! | `strata` | link to strata itself |
//! | `boot-loader/<name>-<version>` | links to the boot loader's packages (`bootLoader`): `grub-efi-amd64-bin` and `grub-pc-bin`, or `systemd-boot-efi` |
//! | `boot.json` | bootspec v1 ([`crate::bootspec::bootspec_json`]) |
//! | `kernel-params` | the parameters, space-separated, a line |
//! | `system` | `x86_64-linux`, a line |
//! | `strata-version` | the version of strata that built it, a line |
//!
//!
//! Must not: build anything it links to; every target is an input, built before.

use std::fs;

use super::{file_err, find_kernel, BuiltinContext, BuiltinError};

/// `builtin:strata-toplevel`; see the module documentation.
pub(super) fn run(cx: &mut BuiltinContext<'_>) -> Result<(), BuiltinError> {
    let packages = cx.inputs("kernelPackages")?;
    let (kernel_pkg, _, version) = find_kernel(&packages)?;
    let kernel = format!("{kernel_pkg}/boot/vmlinuz-{version}");
    let initrd = format!("{}/initrd", cx.attr("initrd")?);
    let init = cx.attr("init")?.to_owned();
    cx.input("init", &init)?;
    let params: Vec<String> =
        serde_json::from_str(cx.attr("kernelParams")?).map_err(BuiltinError::KernelParams)?;
    let out = cx.out;
    let out_logical = cx
        .drv
        .outputs
        .get("out")
        .map(|o| o.path.clone())
        .ok_or(BuiltinError::NoOut)?;

    fs::create_dir_all(out).map_err(file_err("create", out))?;
    let link = |name: &str, target: &str| -> Result<(), BuiltinError> {
        let path = out.join(name);
        std::os::unix::fs::symlink(target, &path).map_err(file_err("create", &path))
    };
    link("kernel", &kernel)?;
    link("kernel-modules", &kernel_pkg)?;
    link("initrd", &initrd)?;
    link("init", &init)?;
    for (name, attr) in [
        ("sw", "sw"),
        ("etc", "etc"),
        ("activation.json", "manifest"),
        ("strata", "strata"),
    ] {
        let v = cx.attr(attr)?.to_owned();
        cx.input(attr, &v)?;
        link(name, &v)?;
    }
    let loaders = cx.inputs("bootLoader")?;
    if !loaders.is_empty() {
        let dir = out.join("boot-loader");
        fs::create_dir_all(&dir).map_err(file_err("create", &dir))?;
        for (logical, _) in &loaders {
            let name = logical.rsplit('/').next().unwrap_or(logical);
            let name = name.split_once('-').map_or(name, |(_, n)| n);
            link(&format!("boot-loader/{name}"), logical)?;
        }
    }
    let system = cx.attr("hostSystem")?.to_owned();
    let label = cx.attr("label")?.to_owned();
    let write = |name: &str, text: &str| -> Result<(), BuiltinError> {
        let path = out.join(name);
        fs::write(&path, text).map_err(file_err("write", &path))
    };
    write("kernel-version", &format!("{version}\n"))?;
    // Every package the kernel came with, so that they are in the closure: a machine
    // rebuilding itself (its initrd, its toplevel) finds them in its own store, offline.
    let mut kernel_packages: Vec<&str> = packages.iter().map(|(l, _)| l.as_str()).collect();
    kernel_packages.sort_unstable();
    write(
        "kernel-packages",
        &format!("{}\n", kernel_packages.join("\n")),
    )?;
    write("kernel-params", &format!("{}\n", params.join(" ")))?;
    write("system", &format!("{system}\n"))?;
    write(
        "strata-version",
        &format!("{}\n", env!("CARGO_PKG_VERSION")),
    )?;
    write(
        "boot.json",
        &crate::bootspec::bootspec_json(
            &out_logical,
            &kernel,
            Some(&initrd),
            &format!("{out_logical}/init"),
            &params,
            &label,
            &system,
        ),
    )?;
    let _ = writeln!(cx.log, "kernel {version}, label {label}");
    Ok(())
}
