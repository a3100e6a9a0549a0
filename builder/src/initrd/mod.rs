//! The initrd: a cpio "newc" archive, compressed, holding strata's init and exactly the kernel
//! modules needed to mount the root file system.
//!
//! - [`cpio`]: the newc writer (and reader, for checks);
//! - [`modules`]: a kernel's modules directory, the closure of the wanted modules and their
//!   staging;
//! - [`elf`]: the ELF reader that finds a module's `.modinfo`;
//! - here, [`build_initrd`]: a staging tree archived and compressed ([`Compression`]).
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use cpio::tests::{parse_newc, sample_tree};
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
}
