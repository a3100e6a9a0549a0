//! `boot.kernelModules` on a running machine: the generation's `kernel-modules-load` (the
//! builder wrote the named modules and their dependencies there, in load order, as paths
//! below `kernel-modules/lib/modules/<version>/`) is loaded through the caller's
//! [`KernelCalls`] at boot, once the file systems are mounted, and at a switch, which thereby
//! loads the modules it adds (those loaded already, `/sys/module/<name>`, are skipped). A
//! module the switch drops stays loaded until the next boot; a generation whose kernel is not
//! the running one loads its modules at its own boot. A module that fails to load is
//! reported, never fatal.
//!
//! Must not: make system calls itself (strata-init does, through [`KernelCalls`]), or load
//! anything when no calls are given (a machine tree worked on by its root).

use std::fs;
use std::path::Path;

use crate::{resolve, KernelCalls};

/// The list of modules in a toplevel.
pub const LOAD_LIST: &str = "kernel-modules-load";

/// A module's name from its path: the file name without its extensions, `-` as `_`.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file).replace('-', "_")
}

/// The load list of the generation `toplevel` on the machine at `root` (empty when it has
/// none).
pub fn load_list(root: &Path, toplevel: &str) -> Vec<String> {
    fs::read_to_string(resolve(root, &format!("{toplevel}/{LOAD_LIST}")))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Loads the modules of `toplevel` that are not loaded yet; `previous` is the generation
/// active before (`None` at boot). Returns what it did and what failed, a line each.
pub fn load_modules(
    root: &Path,
    toplevel: &str,
    previous: Option<&str>,
    calls: Option<&KernelCalls>,
) -> Vec<String> {
    let mut report = Vec::new();
    let Some(calls) = calls else {
        return report;
    };
    let list = load_list(root, toplevel);
    if let Some(prev) = previous.filter(|p| *p != toplevel) {
        let now: Vec<String> = list.iter().map(|p| module_name(p)).collect();
        for gone in load_list(root, prev)
            .iter()
            .map(|p| module_name(p))
            .filter(|n| !now.contains(n))
        {
            report.push(format!(
                "kernel module {gone} is no longer listed; it stays loaded until the next boot"
            ));
        }
    }
    if list.is_empty() {
        return report;
    }
    let version = fs::read_to_string(resolve(root, &format!("{toplevel}/kernel-version")))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let running = fs::read_to_string(root.join("proc/sys/kernel/osrelease"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    if version != running {
        report.push(format!(
            "the generation's kernel is {version}, the running one {running}: its modules load \
             when it boots"
        ));
        return report;
    }
    let dir = format!("{toplevel}/kernel-modules/lib/modules/{version}");
    for rel in &list {
        let name = module_name(rel);
        if root.join("sys/module").join(&name).exists() {
            continue;
        }
        let path = resolve(root, &format!("{dir}/{rel}"));
        match (calls.load_module)(&path.to_string_lossy()) {
            Ok(()) => report.push(format!("loaded kernel module {name}")),
            Err(e) if e.raw_os_error() == Some(17) => {} // EEXIST: loaded meanwhile
            Err(e) => report.push(format!("cannot load kernel module {name}: {e}")),
        }
    }
    report
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::Mutex;

    static LOADED: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn record(path: &str) -> io::Result<()> {
        LOADED.lock().unwrap().push(path.to_owned());
        match path.rsplit('/').next() {
            Some("broken.ko.xz") => Err(io::Error::from_raw_os_error(8)),
            Some("raced.ko.xz") => Err(io::Error::from_raw_os_error(17)),
            _ => Ok(()),
        }
    }

    fn no_swap(_: &str, _: i32) -> io::Result<()> {
        Ok(())
    }

    fn generation(root: &Path, name: &str, version: &str, list: &str) -> String {
        let top = format!("/nix/store/{name}");
        let real = root.join(top.trim_start_matches('/'));
        fs::create_dir_all(&real).unwrap();
        fs::write(real.join(LOAD_LIST), list).unwrap();
        fs::write(real.join("kernel-version"), format!("{version}\n")).unwrap();
        top
    }

    #[test]
    fn the_list_loads_in_order_skipping_what_is_loaded() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
        fs::write(root.join("proc/sys/kernel/osrelease"), "6.1.0-50-amd64\n").unwrap();
        fs::create_dir_all(root.join("sys/module/loop")).unwrap();
        let old = generation(root, "old", "6.1.0-50-amd64", "kernel/x/gone.ko.xz\n");
        let new = generation(
            root,
            "new",
            "6.1.0-50-amd64",
            "kernel/drivers/block/loop.ko.xz\nkernel/x/dep-of-dummy.ko.xz\n\
             kernel/drivers/net/dummy.ko.xz\nkernel/x/broken.ko.xz\nkernel/x/raced.ko.xz\n",
        );
        let calls = KernelCalls {
            load_module: record,
            swapon: no_swap,
        };
        assert!(load_modules(root, &new, None, None).is_empty());
        let report = load_modules(root, &new, Some(&old), Some(&calls));
        let dir = root.join("nix/store/new/kernel-modules/lib/modules/6.1.0-50-amd64");
        assert_eq!(
            *LOADED.lock().unwrap(),
            [
                "x/dep-of-dummy.ko.xz",
                "drivers/net/dummy.ko.xz",
                "x/broken.ko.xz",
                "x/raced.ko.xz"
            ]
            .map(|p| dir.join("kernel").join(p).display().to_string())
        );
        assert_eq!(
            report,
            [
                "kernel module gone is no longer listed; it stays loaded until the next boot",
                "loaded kernel module dep_of_dummy",
                "loaded kernel module dummy",
                "cannot load kernel module broken: Exec format error (os error 8)",
            ]
        );
        // Another kernel: nothing is loaded into the running one.
        let other = generation(
            root,
            "other",
            "6.1.0-99-amd64",
            "kernel/drivers/net/dummy.ko.xz\n",
        );
        let report = load_modules(root, &other, Some(&new), Some(&calls));
        assert!(
            report
                .last()
                .unwrap()
                .contains("its modules load when it boots"),
            "{report:?}"
        );
        assert_eq!(LOADED.lock().unwrap().len(), 4);
    }
}
