//! `builtin:strata-toplevel`: a system's toplevel.
//!
//! Attributes: `kernel` (the system's kernel: `builtin:strata-kernel-modules`' output),
//! `kernelModules` (names loaded in stage 2, space-separated), `initrd`, `init`, `sw`, `bootLoader`, `etc`, `manifest`, `strata`, `label`,
//! `kernelParams` (a JSON list), `hostSystem`. Output, NixOS's layout where NixOS
//! has the same thing:
//!
//! | entry | what |
//! |---|---|
//! | `kernel` | link to the kernel image (`<kernel>/boot/vmlinuz-<version>`) |
//! | `kernel-modules` | link to the kernel's output, holding `lib/modules/<version>/` (compressed modules and their indexes) |
//! | `kernel-version` | the version, a line |
//! | `kernel-modules-load` | the modules `kernelModules` names and their dependencies, in load order: paths relative to `kernel-modules/lib/modules/<version>/`, a line each (stage 2 and switches load them) |
//! | `initrd` | link to `<initrd>/initrd` |
//! | `init` | link to strata's init; stage 2 finds its generation from the path it was started as |
//! | `sw` | link to the joined system packages |
//! | `etc` | link to the static `/etc` tree |
//! | `activation.json` | link to the activation manifest |
//! | `strata` | link to strata itself |
//! | `bin/switch-to-configuration` | NixOS's entry point, `switch-to-configuration switch\|boot\|test\|dry-activate`: a script whose first line makes the kernel run this generation's own strata as `strata switch-to-configuration <script> <verb>`, which activates the generation the script belongs to ([`switch_to_configuration`]) |
//! | `boot-loader/<name>-<version>` | links to the boot loader's packages (`bootLoader`): `grub-efi-amd64-bin` and `grub-pc-bin`, or `systemd-boot-efi` |
//! | `boot.json` | bootspec v1 ([`crate::bootspec::bootspec_json`]) |
//! | `kernel-params` | the parameters, space-separated, a line |
//! | `system` | `x86_64-linux`, a line |
//! | `strata-version` | the version of strata that built it, a line |
//!
//!
//! Must not: build anything it links to; every target is an input, built before.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use super::{file_err, find_kernel, BuiltinContext, BuiltinError};
use crate::initrd::modules::ModulesDir;

/// The longest first line of a script that Linux reads whole (`BINPRM_BUF_SIZE`, newline
/// included).
const MAX_SHEBANG: usize = 256;

/// `bin/switch-to-configuration` for a generation whose strata is the store path `strata`.
///
/// No shell is involved: the first line names strata itself as the interpreter, with the
/// argument `switch-to-configuration`, so running `<toplevel>/bin/switch-to-configuration
/// test` runs `<strata>/bin/strata switch-to-configuration <toplevel>/bin/switch-to-configuration
/// test`; strata finds the generation from the script's own path, so the script needs no
/// path of its own generation (and works through links such as `result`). The rest of the
/// file is for people reading it.
pub fn switch_to_configuration(strata: &str) -> Result<String, BuiltinError> {
    let first = format!("#!{strata}/bin/strata switch-to-configuration\n");
    if first.len() > MAX_SHEBANG {
        return Err(BuiltinError::BadDerivation(format!(
            "the store path '{strata}' is too long for the first line of \
             bin/switch-to-configuration ({} bytes; Linux reads {MAX_SHEBANG})",
            first.len()
        )));
    }
    Ok(format!(
        "{first}\
         # switch-to-configuration switch|boot|test|dry-activate, as on NixOS: activates the\n\
         # generation this file belongs to with the verb given, as `strata <verb> --toplevel\n\
         # <generation>` does, with the same exit codes. The first line runs the generation's\n\
         # own strata with this file's path; nothing below it is read.\n"
    ))
}

/// `builtin:strata-toplevel`; see the module documentation.
pub(super) fn run(cx: &mut BuiltinContext<'_>) -> Result<(), BuiltinError> {
    let kernel_out = cx.attr("kernel")?.to_owned();
    let kernel_real = cx.input("kernel", &kernel_out)?;
    let (kernel_pkg, kernel_root, version) = find_kernel(&[(kernel_out, kernel_real)])?;
    // The stage-2 modules, their dependencies first: the names must be modules of this
    // kernel (or built in), and not left out by the module filter.
    let wanted: Vec<&str> = cx.attr("kernelModules")?.split_whitespace().collect();
    let modules = ModulesDir::open(&kernel_root.join("lib/modules").join(&version))?;
    let load = modules.closure(&wanted)?;
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
    let script = switch_to_configuration(cx.attr("strata")?)?;
    let bin = out.join("bin");
    fs::create_dir_all(&bin).map_err(file_err("create", &bin))?;
    let path = bin.join("switch-to-configuration");
    fs::write(&path, script).map_err(file_err("write", &path))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o555))
        .map_err(file_err("make executable", &path))?;
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
    let load_list: String = load
        .modules
        .iter()
        .map(|m| format!("{}\n", m.path))
        .collect();
    write("kernel-modules-load", &load_list)?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_script_runs_the_generations_strata_and_fits_the_kernels_first_line() {
        let strata = "/nix/store/7rjj86a15146cq1d3qy068lml7n8ykzm-strata-0.1.0";
        let s = switch_to_configuration(strata).unwrap();
        assert_eq!(
            s.lines().next().unwrap(),
            format!("#!{strata}/bin/strata switch-to-configuration")
        );
        assert!(s.lines().skip(1).all(|l| l.starts_with("# ")), "{s}");
        let long = format!(
            "/{}/7rjj86a15146cq1d3qy068lml7n8ykzm-strata",
            "d".repeat(200)
        );
        let e = switch_to_configuration(&long).unwrap_err().to_string();
        assert!(e.contains("too long for the first line"), "{e}");
    }
}
