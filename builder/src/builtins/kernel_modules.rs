//! `builtin:strata-kernel-modules`: a system's kernel, its modules recompressed and indexed.
//!
//! Attributes: `kernelPackages` (store paths, one of which holds `boot/vmlinuz-<version>` and
//! `lib/modules/<version>/`: Debian's `linux-image-<version>-amd64`), `moduleFilter`
//! (directories below `kernel/` to leave out, space-separated; may be empty). Output:
//! `$out/boot/vmlinuz-<version>` and `$out/boot/config-<version>` (copied from the package),
//! and `$out/lib/modules/<version>/` as [`crate::kernel::build_modules_tree`] writes it
//! (`.ko.xz` modules, `modules.dep` and kmod's indexes, the left-out record).
//!
//! The system's toplevel and initrd take the kernel from here, not from the package: the
//! package's 390 MiB of uncompressed modules are then no part of a system's closure. The
//! derivation is input-addressed on the package and the filter, so an unchanged configuration
//! finds it valid and does not compress anything again.
//!
//! Must not: choose the filter (the configuration does) or read any other input.

use std::fs;

use super::{file_err, find_kernel, BuiltinContext, BuiltinError};
use crate::kernel::build_modules_tree;

/// At most this many modules are compressed at once.
const MAX_JOBS: usize = 4;

/// `builtin:strata-kernel-modules`; see the module documentation.
pub(super) fn run(cx: &mut BuiltinContext<'_>) -> Result<(), BuiltinError> {
    let packages = cx.inputs("kernelPackages")?;
    let (kernel_pkg, kernel_root, version) = find_kernel(&packages)?;
    let filter: Vec<String> = cx
        .attr("moduleFilter")?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let boot = cx.out.join("boot");
    fs::create_dir_all(&boot).map_err(file_err("create", &boot))?;
    for name in [format!("vmlinuz-{version}"), format!("config-{version}")] {
        let src = kernel_root.join("boot").join(&name);
        if name.starts_with("config-") && !src.exists() {
            continue;
        }
        fs::copy(&src, boot.join(&name)).map_err(file_err("copy", &src))?;
    }
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_JOBS));
    let src = kernel_root.join("lib/modules").join(&version);
    let out = cx.out.join("lib/modules").join(&version);
    let summary = build_modules_tree(&src, &out, &filter, jobs)?;
    let _ = writeln!(
        cx.log,
        "kernel {version} from {kernel_pkg}: {} modules kept ({} bytes, {} as xz), {} left out \
         by the filter [{}]",
        summary.kept,
        summary.bytes_in,
        summary.bytes_out,
        summary.left_out,
        filter.join(" ")
    );
    Ok(())
}
