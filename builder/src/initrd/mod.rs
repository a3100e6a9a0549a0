//! The initrd: a cpio "newc" archive, compressed, holding strata's init and exactly the kernel
//! modules needed to mount the root file system.
//!
//! - [`cpio`]: the newc writer (and reader, for checks);
//! - [`modules`]: a kernel's modules directory, the closure of the wanted modules and their
//!   staging;
//! - [`elf`]: the ELF reader that finds a module's `.modinfo`;
//! - here, [`build_initrd`]: a staging tree archived and compressed ([`Compression`]), and
//!   [`microcode_archive`]: the early, uncompressed archive of CPU microcode updates that goes
//!   before it.
//!
//! Must not: decide which modules or files an initrd holds (the builtin builder,
//! [`crate::builtins`], does).

pub mod cpio;
pub mod elf;
pub mod modules;

use std::path::Path;

pub use crate::compress::Compression;
use cpio::{CpioError, CpioWriter};

/// Archives the staging tree `root` as an initrd: its contents in sorted order, plus `dev/`
/// (0755) and `dev/console` (c 5 1, 0600) when the tree has none, then compresses it.
pub fn build_initrd(
    root: &Path,
    compression: Compression,
    mtime: u32,
) -> Result<Vec<u8>, CpioError> {
    let mut w = CpioWriter::with_mtime(Vec::new(), mtime);
    w.add_tree(root, "")?;
    if !w.contains("dev") {
        w.add_dir("dev", 0o755)?;
    }
    if !w.contains("dev/console") {
        w.add_char_device("dev/console", 0o600, 5, 1)?;
    }
    let cpio = w.finish()?;
    compression
        .compress(&cpio)
        .map_err(cpio::io_err("compress the initrd"))
}

/// Where the kernel's early loader looks for Intel's microcode updates in the first archive.
pub const INTEL_MICROCODE: &str = "kernel/x86/microcode/GenuineIntel.bin";
/// Where it looks for AMD's.
pub const AMD_MICROCODE: &str = "kernel/x86/microcode/AuthenticAMD.bin";

/// The early microcode archive: an uncompressed newc archive holding `kernel`, `kernel/x86`,
/// `kernel/x86/microcode` and [`INTEL_MICROCODE`] (`intel`) and/or [`AMD_MICROCODE`] (`amd`),
/// each left out when its data is empty. The kernel reads it before anything else, so it
/// must come first in the initrd file, uncompressed, followed by the (compressed) initrd
/// proper (the kernel's `Documentation/arch/x86/microcode.rst`).
pub fn microcode_archive(intel: &[u8], amd: &[u8], mtime: u32) -> Result<Vec<u8>, CpioError> {
    let mut w = CpioWriter::with_mtime(Vec::new(), mtime);
    w.add_dir_all("kernel/x86/microcode")?;
    for (name, data) in [(INTEL_MICROCODE, intel), (AMD_MICROCODE, amd)] {
        if !data.is_empty() {
            w.add_file(name, 0o644, data)?;
        }
    }
    w.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use cpio::tests::{parse_newc, sample_tree};

    const NEWC_MAGIC_STR: &str = "070701";
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};

    #[test]
    fn compressed_initrd_round_trips() {
        let t = sample_tree();
        let plain = build_initrd(t.path(), Compression::None, 0).unwrap();
        let es = parse_newc(&plain);
        let console = es.iter().find(|e| e.name == "dev/console").unwrap();
        assert_eq!(
            (console.mode, console.rdevmajor, console.rdevminor),
            (0o020600, 5, 1)
        );

        let gz = build_initrd(t.path(), Compression::Gzip, 0).unwrap();
        assert_eq!(gz, build_initrd(t.path(), Compression::Gzip, 0).unwrap());
        // Fixed header: magic, deflate, no flags, mtime 0, xfl, OS 255.
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
        assert_eq!(gz[9], 255);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
        assert!(gz.len() < plain.len() / 4, "gzip did not compress");

        let zst = build_initrd(t.path(), Compression::Zstd, 0).unwrap();
        assert_eq!(zst, build_initrd(t.path(), Compression::Zstd, 0).unwrap());
        assert_eq!(&zst[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        let mut out = Vec::new();
        ruzstd::decoding::StreamingDecoder::new(&zst[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
        assert!(zst.len() < plain.len() / 4, "zstd did not compress");
        // The reference decoders agree, where installed.
        for (tool, data) in [("gzip", &gz), ("zstd", &zst)] {
            let Ok(mut child) = Command::new(tool)
                .args(["-d", "-c"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
            else {
                eprintln!("{tool} not installed: skipping its check");
                continue;
            };
            let mut stdin = child.stdin.take().unwrap();
            let data = data.clone();
            let feeder = std::thread::spawn(move || stdin.write_all(&data));
            let res = child.wait_with_output().unwrap();
            feeder.join().unwrap().unwrap();
            assert!(res.status.success(), "{tool} -d failed");
            assert_eq!(res.stdout, plain, "{tool} -d output differs");
        }
    }

    /// `cpio -t` (GNU cpio or busybox's) lists the names of `archive`, or `None` when neither
    /// is installed.
    fn cpio_list(archive: &[u8]) -> Option<Vec<String>> {
        for (tool, args) in [
            ("cpio", &["-t", "--quiet"][..]),
            ("/bin/busybox", &["cpio", "-t"][..]),
        ] {
            let Ok(mut child) = Command::new(tool)
                .args(args)
                .env_clear()
                .env("LC_ALL", "C")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
            else {
                continue;
            };
            child.stdin.take().unwrap().write_all(archive).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{tool} -t failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return Some(
                String::from_utf8(out.stdout)
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect(),
            );
        }
        None
    }

    #[test]
    fn microcode_archive_holds_exactly_the_vendor_files() {
        let both = microcode_archive(b"intel-1intel-2", b"DMA\0amd", 0).unwrap();
        assert!(both.starts_with(NEWC_MAGIC_STR.as_bytes()));
        let es = parse_newc(&both);
        let names: Vec<&str> = es.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "kernel",
                "kernel/x86",
                "kernel/x86/microcode",
                INTEL_MICROCODE,
                AMD_MICROCODE,
                cpio::TRAILER
            ]
        );
        assert_eq!(es[3].data, b"intel-1intel-2");
        assert_eq!(es[4].data, b"DMA\0amd");
        assert_eq!((es[3].mode, es[2].mode), (0o100644, 0o040755));
        assert_eq!(both.len() % 4, 0, "the archive ends on a 4-byte boundary");
        // An independent reader agrees, where one is installed.
        match cpio_list(&both) {
            Some(listed) => assert_eq!(listed, names[..5]),
            None => eprintln!("no cpio tool installed: skipping its listing"),
        }
        // One vendor only: the other file is absent.
        let amd = parse_newc(&microcode_archive(b"", b"x", 0).unwrap());
        let names: Vec<&str> = amd.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "kernel",
                "kernel/x86",
                "kernel/x86/microcode",
                AMD_MICROCODE,
                cpio::TRAILER
            ]
        );
        assert_eq!(
            microcode_archive(b"a", b"b", 7).unwrap(),
            microcode_archive(b"a", b"b", 7).unwrap()
        );
    }
}
