//! Loading one kernel module file. Debian's kernel takes uncompressed module images only (it
//! is built without `CONFIG_MODULE_DECOMPRESS`, so `finit_module` cannot be given an xz
//! file): a `.ko.xz` (the system's modules, as strata recompresses them) is read and
//! decompressed here, in memory, and handed over with `init_module(2)`; a plain `.ko` (the
//! initrd's, which carries them decompressed) goes by descriptor with `finit_module(2)`.
//!
//! [`kernel_calls`] gives activation (crate `activate`, which has no `unsafe`) the module
//! loading and `swapon(2)` it asks for at boot and at a switch.
//!
//! Must not: start threads, or keep more than one module's image in memory.

use std::io::{self, Read as _};

use crate::sys::{RealSys, Sys};

/// The largest module image decompressed (Debian's largest module is about 20 MiB).
pub const MAX_IMAGE: u64 = 256 << 20;

/// Loads the module file `path` with `params`: `.ko.xz` decompressed and given to
/// `init_module`, anything else to `finit_module`.
pub fn load(sys: &mut dyn Sys, path: &str, params: &str) -> io::Result<()> {
    if !path.ends_with(".ko.xz") {
        return sys.load_module(path, params);
    }
    let packed = sys.read_file(path)?;
    let image = decompress_xz(&packed).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path}: cannot decompress: {e}"),
        )
    })?;
    sys.init_module(&image, params)
}

/// An xz stream decompressed, at most [`MAX_IMAGE`] bytes.
pub fn decompress_xz(packed: &[u8]) -> io::Result<Vec<u8>> {
    let mut image = Vec::with_capacity(packed.len().saturating_mul(4));
    lzma_rust2::XzReader::new(packed, false)
        .take(MAX_IMAGE + 1)
        .read_to_end(&mut image)?;
    if image.len() as u64 > MAX_IMAGE {
        return Err(io::Error::other(format!(
            "larger than {MAX_IMAGE} bytes decompressed"
        )));
    }
    Ok(image)
}

fn load_real(path: &str) -> io::Result<()> {
    load(&mut RealSys::new(), path, "")
}

/// The system calls activation makes through strata-init: module loading as [`load`] does,
/// and `swapon(2)`.
pub fn kernel_calls() -> strata_activate::KernelCalls {
    strata_activate::KernelCalls {
        load_module: load_real,
        swapon: crate::sys::swapon,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testing::Recorder;

    /// `\x7fELF\2\1\1`, 3000 zero bytes and a line of text, compressed by `xz --check=crc32`
    /// (the stream format strata writes; init has no xz encoder).
    const MODULE_XZ: &[u8] = &[
        0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x01, 0x69, 0x22, 0xde, 0x36, 0x02, 0x00, 0x21,
        0x01, 0x16, 0x00, 0x00, 0x00, 0x74, 0x2f, 0xe5, 0xa3, 0xe0, 0x0b, 0xdd, 0x00, 0x3c, 0x5d,
        0x00, 0x3f, 0x91, 0x45, 0x84, 0x68, 0x3d, 0x89, 0xa6, 0xdb, 0xf1, 0xee, 0x07, 0x9e, 0x34,
        0xf9, 0xe8, 0xd6, 0x42, 0x35, 0xa6, 0x23, 0x73, 0x75, 0xfe, 0xe6, 0xa7, 0x13, 0xf6, 0x4a,
        0xb8, 0xdb, 0x40, 0xd5, 0x19, 0xad, 0x3c, 0x4f, 0xf8, 0x7f, 0x6a, 0x34, 0x97, 0x42, 0xcd,
        0x94, 0x65, 0x94, 0x95, 0xa7, 0x27, 0xbc, 0x1b, 0xba, 0xc9, 0x07, 0x70, 0x57, 0xd4, 0x80,
        0x00, 0x00, 0xaf, 0x77, 0x21, 0xbb, 0x00, 0x01, 0x54, 0xde, 0x17, 0x00, 0x00, 0x00, 0x22,
        0x30, 0x41, 0xaf, 0x3e, 0x30, 0x0d, 0x8b, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x59, 0x5a,
    ];

    #[test]
    fn compressed_modules_are_decompressed_and_given_to_init_module() {
        let mut r = Recorder::new();
        r.file("/lib/modules/v/kernel/dummy.ko.xz", MODULE_XZ);
        r.file("/lib/modules/v/kernel/loop.ko", b"\x7fELF plain");
        load(&mut r, "/lib/modules/v/kernel/dummy.ko.xz", "numdummies=2").unwrap();
        load(&mut r, "/lib/modules/v/kernel/loop.ko", "").unwrap();
        let image = decompress_xz(MODULE_XZ).unwrap();
        assert!(image.starts_with(b"\x7fELF"));
        assert_eq!(
            r.calls,
            [
                format!("init_module {} bytes numdummies=2", image.len()),
                "load /lib/modules/v/kernel/loop.ko ".to_owned(),
            ]
        );
        assert_eq!(r.images, [image]);
    }

    #[test]
    fn stage_one_loads_the_initrds_modules_through_here() {
        let mut r = Recorder::new();
        let dir = "/lib/modules/6.1.0-50-amd64";
        r.file(
            &format!("{dir}/modules.dep"),
            b"kernel/drivers/net/dummy.ko.xz:\nkernel/drivers/block/loop.ko:\n",
        );
        r.file(&format!("{dir}/kernel/drivers/net/dummy.ko.xz"), MODULE_XZ);
        r.file(&format!("{dir}/kernel/drivers/block/loop.ko"), b"\x7fELF");
        let params = crate::cmdline::BootParams::read(
            Some("kernel=6.1.0-50-amd64\nmodule=dummy\nmodule=loop\n"),
            "",
        );
        assert_eq!(crate::stage1::load_modules(&mut r, &params).unwrap(), 2);
        let image = decompress_xz(MODULE_XZ).unwrap();
        assert_eq!(
            r.calls,
            [
                format!("init_module {} bytes ", image.len()),
                format!("load {dir}/kernel/drivers/block/loop.ko "),
            ]
        );
    }

    #[test]
    fn broken_or_missing_modules_are_errors_not_panics() {
        let mut r = Recorder::new();
        let mut cut = MODULE_XZ.to_vec();
        cut.truncate(cut.len() - 10);
        r.file("/m/cut.ko.xz", &cut);
        r.file("/m/garbage.ko.xz", b"not xz at all");
        let mut flipped = MODULE_XZ.to_vec();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        r.file("/m/flipped.ko.xz", &flipped);
        for p in ["/m/cut.ko.xz", "/m/garbage.ko.xz", "/m/flipped.ko.xz"] {
            let e = load(&mut r, p, "").unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{p}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("{p}: cannot decompress")),
                "{e}"
            );
        }
        let e = load(&mut r, "/m/absent.ko.xz", "").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(
            r.calls.iter().all(|c| !c.starts_with("init_module")),
            "{:?}",
            r.calls
        );
    }
}
