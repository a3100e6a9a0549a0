//! Swap devices and files (`swapDevices`): at boot, once the file systems are mounted, and at
//! a switch for the entries it adds. A file with a `size` that does not exist yet is created
//! whole (zero-filled, not sparse, mode 0600) with a swap header strata writes itself
//! ([`swap_header`]); then `swapon(2)` through the caller's [`KernelCalls`], with the entry's
//! priority. Nothing here is fatal: a machine without its swap still comes up, and the
//! report says what went wrong.
//!
//! The header is the kernel's `union swap_header` (`include/linux/swap.h`) for 4 KiB pages:
//! the first page holds, at byte 1024, `version` (1), `last_page` (the last usable page: the
//! size in pages minus one), `nr_badpages` (0), a 16-byte UUID and a 16-byte volume label,
//! all integers little-endian on x86; its last 10 bytes are the signature `SWAPSPACE2`. The
//! tests compare every field but the UUID with util-linux's `mkswap`.
//!
//! Must not: make system calls itself (this crate has no `unsafe`), remove or shrink a swap
//! file that exists, or touch anything when no [`KernelCalls`] are given (a machine tree
//! worked on by its root, or an image).

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::manifest::ManifestSwap;
use crate::KernelCalls;

/// The page size of the machines strata makes (x86-64).
pub const PAGE_SIZE: usize = 4096;
/// The swap signature, in the last bytes of the first page.
pub const SIGNATURE: &[u8; 10] = b"SWAPSPACE2";
/// `SWAP_FLAG_PREFER`: the flags carry a priority.
pub const SWAP_FLAG_PREFER: i32 = 0x8000;
/// `SWAP_FLAG_PRIO_MASK`.
pub const SWAP_FLAG_PRIO_MASK: i32 = 0x7fff;

/// Why a swap file could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: a swap file of {mib} MiB is too small (at least 40 KiB) or too large", path.display())]
    Size { path: PathBuf, mib: u64 },
    #[error("swap label {0:?} is longer than 16 bytes")]
    Label(String),
}

/// The first page of a swap area of `pages` pages (the header page included).
pub fn swap_header(pages: u32, uuid: [u8; 16], label: Option<&str>) -> Result<Vec<u8>, SwapError> {
    let mut page = vec![0u8; PAGE_SIZE];
    let label = label.unwrap_or("").as_bytes();
    if label.len() > 16 {
        return Err(SwapError::Label(
            String::from_utf8_lossy(label).into_owned(),
        ));
    }
    page[1024..1028].copy_from_slice(&1u32.to_le_bytes());
    page[1028..1032].copy_from_slice(&pages.saturating_sub(1).to_le_bytes());
    page[1032..1036].copy_from_slice(&0u32.to_le_bytes());
    page[1036..1052].copy_from_slice(&uuid);
    page[1052..1052 + label.len()].copy_from_slice(label);
    page[PAGE_SIZE - SIGNATURE.len()..].copy_from_slice(SIGNATURE);
    Ok(page)
}

/// A version-4-shaped UUID derived from the host name and the file's path, so that the same
/// configuration makes the same header.
pub fn swap_uuid(host_name: &str, device: &str) -> [u8; 16] {
    let h = strata_store::hash::Hash::of(
        strata_store::hash::HashAlgo::Sha256,
        format!("strata swap\0{host_name}\0{device}").as_bytes(),
    );
    let mut u = [0u8; 16];
    for (d, s) in u.iter_mut().zip(h.digest()) {
        *d = *s;
    }
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

/// Creates the swap file `path` of `mib` MiB: every byte written (no holes, which the kernel
/// refuses), the header first, synced; mode 0600. A file that cannot be finished is removed.
pub fn create_swap_file(
    path: &Path,
    mib: u64,
    uuid: [u8; 16],
    label: Option<&str>,
) -> Result<(), SwapError> {
    let io_err = |source| SwapError::Io {
        path: path.to_owned(),
        source,
    };
    let pages = mib
        .checked_mul(1 << 20)
        .map(|b| b / PAGE_SIZE as u64)
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p >= 10)
        .ok_or(SwapError::Size {
            path: path.to_owned(),
            mib,
        })?;
    let header = swap_header(pages, uuid, label)?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err)?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err)?;
    let written = (|| -> io::Result<()> {
        f.write_all(&header)?;
        let zeros = vec![0u8; 1 << 20];
        let mut left = u64::from(pages - 1) * PAGE_SIZE as u64;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            f.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        f.sync_all()
    })();
    if let Err(e) = written {
        drop(f);
        let _ = fs::remove_file(path);
        return Err(io_err(e));
    }
    Ok(())
}

/// `swapon(2)`'s flags for a priority.
pub fn swap_flags(priority: Option<u32>) -> i32 {
    match priority {
        Some(p) => SWAP_FLAG_PREFER | (i32::try_from(p).unwrap_or(0) & SWAP_FLAG_PRIO_MASK),
        None => 0,
    }
}

/// The paths `/proc/swaps` lists (octal escapes such as `\040` decoded).
pub fn active_swaps(proc_swaps: &str) -> Vec<String> {
    proc_swaps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(unescape_octal)
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0')));
        match code.and_then(|c| u8::try_from(c).ok()) {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Enables the swap entries of a generation on the machine at `root` (the live machine when
/// `calls` are given; otherwise nothing happens). `previous` is the swap of the generation
/// active before, whose entries that are gone stay in use until the next boot. Returns what
/// it did and what failed, a line each.
pub fn activate_swap(
    root: &Path,
    host_name: &str,
    entries: &[ManifestSwap],
    previous: &[ManifestSwap],
    calls: Option<&KernelCalls>,
) -> Vec<String> {
    let mut report = Vec::new();
    let Some(calls) = calls else {
        return report;
    };
    let active = active_swaps(&fs::read_to_string(root.join("proc/swaps")).unwrap_or_default());
    for e in entries {
        // The builder checks the path's type; a forged manifest is refused here too.
        let bad = !e.device.starts_with('/')
            || e.device.chars().any(char::is_control)
            || e.device.split('/').any(|c| c == "." || c == "..");
        if bad {
            report.push(format!(
                "refusing the swap device {:?}: not an absolute path",
                e.device
            ));
            continue;
        }
        let path = root.join(e.device.trim_start_matches('/'));
        if let Some(mib) = e.size {
            if fs::symlink_metadata(&path).is_err() {
                match create_swap_file(
                    &path,
                    mib,
                    swap_uuid(host_name, &e.device),
                    e.label.as_deref(),
                ) {
                    Ok(()) => {
                        report.push(format!("created the swap file {} ({mib} MiB)", e.device))
                    }
                    Err(err) => {
                        report.push(format!("cannot create the swap file {}: {err}", e.device));
                        continue;
                    }
                }
            }
        }
        let real = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        let shown = real.to_string_lossy().into_owned();
        if active.iter().any(|a| *a == shown || *a == e.device) {
            continue;
        }
        match (calls.swapon)(&shown, swap_flags(e.priority)) {
            Ok(()) => report.push(format!("swap on {}", e.device)),
            Err(err) if err.raw_os_error() == Some(16) => {} // EBUSY: in use already
            Err(err) => report.push(format!("cannot enable swap on {}: {err}", e.device)),
        }
    }
    for gone in previous
        .iter()
        .filter(|p| !entries.iter().any(|e| e.device == p.device))
    {
        report.push(format!(
            "swap on {} stays in use until the next boot",
            gone.device
        ));
    }
    report
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::Mutex;

    #[test]
    fn the_header_has_every_field_where_the_kernel_reads_it() {
        let uuid = *b"0123456789abcdef";
        let h = swap_header(4096, uuid, Some("swappy")).unwrap();
        assert_eq!(h.len(), 4096);
        assert_eq!(&h[4086..], b"SWAPSPACE2");
        assert_eq!(u32::from_le_bytes(h[1024..1028].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(h[1028..1032].try_into().unwrap()), 4095);
        assert_eq!(u32::from_le_bytes(h[1032..1036].try_into().unwrap()), 0);
        assert_eq!(&h[1036..1052], &uuid);
        assert_eq!(&h[1052..1068], b"swappy\0\0\0\0\0\0\0\0\0\0");
        assert!(h[..1024].iter().all(|b| *b == 0));
        assert!(h[1068..4086].iter().all(|b| *b == 0));
        assert!(swap_header(10, uuid, Some("seventeen-bytes!!")).is_err());
    }

    #[test]
    fn swap_files_match_mkswap_but_for_the_uuid() {
        let t = tempfile::tempdir().unwrap();
        let ours = t.path().join("sub/dir/ours");
        create_swap_file(&ours, 3, swap_uuid("saguaro", "/ours"), Some("strata-swap")).unwrap();
        let data = fs::read(&ours).unwrap();
        assert_eq!(data.len(), 3 << 20);
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let md = fs::metadata(&ours).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o600);
        assert_eq!(md.blocks() * 512, 3 << 20, "not sparse");
        assert!(data[4096..].iter().all(|b| *b == 0));
        // An existing file is never overwritten.
        assert!(create_swap_file(&ours, 3, [0; 16], None).is_err());
        assert_eq!(fs::read(&ours).unwrap(), data);
        // mkswap on a file of the same size, with the same label.
        let theirs = t.path().join("theirs");
        fs::write(&theirs, vec![0u8; 3 << 20]).unwrap();
        let out = Command::new("mkswap")
            .args(["-L", "strata-swap", "-p", "4096"])
            .arg(&theirs)
            .env_clear()
            .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
            .output();
        let out = match out {
            Ok(o) => o,
            Err(_) => {
                eprintln!("mkswap is not installed: its comparison is skipped");
                return;
            }
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut theirs = fs::read(&theirs).unwrap();
        // All but the UUID.
        theirs[1036..1052].copy_from_slice(&data[1036..1052]);
        assert_eq!(&data[..4096], &theirs[..4096]);
        assert_eq!(data, theirs);
        // Sizes mkswap would refuse, and a name that cannot be created.
        assert!(create_swap_file(&t.path().join("tiny"), 0, [0; 16], None).is_err());
        assert!(!t.path().join("tiny").exists());
    }

    #[test]
    fn priorities_become_swapon_flags() {
        assert_eq!(swap_flags(None), 0);
        assert_eq!(swap_flags(Some(0)), 0x8000);
        assert_eq!(swap_flags(Some(10)), 0x800a);
        assert_eq!(swap_flags(Some(32767)), 0xffff);
        let u = swap_uuid("saguaro", "/var/swapfile");
        assert_eq!(u, swap_uuid("saguaro", "/var/swapfile"));
        assert_ne!(u, swap_uuid("saguaro", "/var/other"));
        assert_eq!(u[6] >> 4, 4);
        assert_eq!(u[8] >> 6, 2);
    }

    #[test]
    fn proc_swaps_is_read_with_its_escapes() {
        let text = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
                    /var/swapfile                           file\t\t16380\t\t0\t\t-2\n\
                    /swap\\040dir/file                       file\t\t1024\t\t0\t\t5\n";
        assert_eq!(active_swaps(text), ["/var/swapfile", "/swap dir/file"]);
        assert!(active_swaps("Filename Type\n").is_empty());
    }

    static CALLS: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn record_swapon(path: &str, flags: i32) -> io::Result<()> {
        CALLS
            .lock()
            .unwrap()
            .push(format!("swapon {path} {flags:#x}"));
        if path.ends_with("busy") {
            return Err(io::Error::from_raw_os_error(16));
        }
        if path.ends_with("broken") {
            return Err(io::Error::from_raw_os_error(22));
        }
        Ok(())
    }

    fn no_module(_: &str) -> io::Result<()> {
        Ok(())
    }

    #[test]
    fn activation_creates_missing_files_and_enables_what_is_not_active() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("proc")).unwrap();
        fs::create_dir_all(root.join("var")).unwrap();
        fs::write(root.join("var/on-already"), b"x").unwrap();
        let on = fs::canonicalize(root.join("var/on-already")).unwrap();
        fs::write(
            root.join("proc/swaps"),
            format!(
                "Filename Type Size Used Priority\n{} file 4 0 -2\n",
                on.display()
            ),
        )
        .unwrap();
        fs::write(root.join("var/broken"), b"x").unwrap();
        let entry = |d: &str, size, priority| ManifestSwap {
            device: d.into(),
            size,
            priority,
            label: None,
        };
        let entries = [
            entry("/var/swapfile", Some(1), Some(5)),
            entry("/var/on-already", Some(1), None),
            entry("/var/broken", None, None),
            entry("/var/busy", Some(1), None),
            entry("/var/../etc/forged", Some(1), None),
        ];
        let calls = KernelCalls {
            load_module: no_module,
            swapon: record_swapon,
        };
        let previous = [
            entry("/var/old", None, None),
            entry("/var/swapfile", Some(1), None),
        ];
        // Without kernel calls (a machine tree, an image), nothing happens.
        assert!(activate_swap(root, "saguaro", &entries, &previous, None).is_empty());
        assert!(!root.join("var/swapfile").exists());
        let report = activate_swap(root, "saguaro", &entries, &previous, Some(&calls));
        let real = |n: &str| {
            fs::canonicalize(root.join(n))
                .unwrap()
                .display()
                .to_string()
        };
        assert_eq!(
            *CALLS.lock().unwrap(),
            [
                format!("swapon {} 0x8005", real("var/swapfile")),
                format!("swapon {} 0x0", real("var/broken")),
                format!("swapon {} 0x0", real("var/busy")),
            ]
        );
        assert_eq!(
            report[..3],
            [
                "created the swap file /var/swapfile (1 MiB)".to_owned(),
                "swap on /var/swapfile".to_owned(),
                "cannot enable swap on /var/broken: Invalid argument (os error 22)".to_owned(),
            ]
        );
        assert_eq!(report[3], "created the swap file /var/busy (1 MiB)");
        assert_eq!(
            report[4],
            "refusing the swap device \"/var/../etc/forged\": not an absolute path"
        );
        assert!(!root.join("etc/forged").exists());
        assert_eq!(
            report[5],
            "swap on /var/old stays in use until the next boot"
        );
        assert_eq!(report.len(), 6, "{report:?}");
        let data = fs::read(root.join("var/swapfile")).unwrap();
        assert_eq!(data.len(), 1 << 20);
        assert_eq!(&data[4086..4096], SIGNATURE);
        // The existing file was left alone.
        assert_eq!(fs::read(root.join("var/on-already")).unwrap(), b"x");
    }
}
