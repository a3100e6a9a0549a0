//! The crate's one place for compressed data, all pure Rust: `flate2` (gzip), `lzma-rust2`
//! (xz), `ruzstd` (zstd).
//!
//! Reading: [`Format::detect`] tells the format by its magic bytes (gzip `1f 8b`, xz
//! `fd 37 7a 58 5a 00`, zstd `28 b5 2f fd`, anything else is uncompressed), and [`decoder`]
//! wraps a reader in the matching decoder. Every reader of compressed input in the crate goes
//! through it: the archive's `Packages` index, a `.deb`'s members, kernel modules read for
//! their `.modinfo`, and an initrd read back. gzip streams may hold several members; zstd
//! streams several frames (skippable frames are skipped), which ruzstd's own streaming decoder
//! does not read.
//!
//! Writing: [`Compression`] compresses an initrd, deterministically.
//!
//! Must not: guess from file names; callers that know a declared format (from a name) check
//! it against the bytes with [`decoder_expecting`] or [`decompress_limited`].

use std::fmt;
use std::io::{self, BufRead, Read, Write};

/// A compression format, as told by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::None => "uncompressed",
            Format::Gzip => "gzip",
            Format::Xz => "xz",
            Format::Zstd => "zstd",
        })
    }
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

impl Format {
    /// The format of data starting with `head` (a few bytes are enough: six for xz).
    pub fn detect(head: &[u8]) -> Format {
        if head.starts_with(GZIP_MAGIC) {
            Format::Gzip
        } else if head.starts_with(XZ_MAGIC) {
            Format::Xz
        } else if head.starts_with(ZSTD_MAGIC) {
            Format::Zstd
        } else {
            Format::None
        }
    }
}

/// `raw` decompressed, its format told by its first bytes.
pub fn decoder<'a>(raw: impl BufRead + 'a) -> io::Result<Box<dyn Read + 'a>> {
    decode(raw, None)
}

/// Like [`decoder`], but the data must be in the `declared` format (a `.deb` member's name
/// says which): any other magic is an error.
pub fn decoder_expecting<'a>(
    raw: impl BufRead + 'a,
    declared: Format,
) -> io::Result<Box<dyn Read + 'a>> {
    decode(raw, Some(declared))
}

fn decode<'a>(
    mut raw: impl BufRead + 'a,
    declared: Option<Format>,
) -> io::Result<Box<dyn Read + 'a>> {
    let format = Format::detect(&peek(&mut raw, XZ_MAGIC.len())?);
    if let Some(declared) = declared {
        if declared != format {
            // An empty stream is still handed to its declared decoder, which names the problem.
            let empty = raw.fill_buf()?.is_empty();
            if !empty || declared == Format::None {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("expected {declared} data, found {format} data"),
                ));
            }
            return decode_as(raw, declared);
        }
    }
    decode_as(raw, format)
}

fn decode_as<'a>(raw: impl BufRead + 'a, format: Format) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match format {
        Format::None => Box::new(raw),
        Format::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Format::Xz => Box::new(lzma_rust2::XzReader::new(raw, true)),
        Format::Zstd => Box::new(ZstdReader::new(raw)?),
    })
}

/// Up to `n` first bytes of `raw` without consuming them. A `BufRead` may return fewer than
/// `n` from one `fill_buf` (a buffer boundary); the magic numbers here are at most six bytes,
/// far below any buffer, so one call is enough except at the end of the stream.
fn peek(raw: &mut impl BufRead, n: usize) -> io::Result<Vec<u8>> {
    let buf = raw.fill_buf()?;
    Ok(buf[..buf.len().min(n)].to_vec())
}

/// All of `data` decompressed, its format told by its first bytes.
pub fn decompress(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    decoder(data)?.read_to_end(&mut out)?;
    Ok(out)
}

/// Like [`decompress`], but the data must be in the `declared` format when one is given (a
/// file's name says which), and more than `limit` bytes of output is an error naming the limit.
pub fn decompress_limited(
    data: &[u8],
    declared: Option<Format>,
    limit: u64,
) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    decode(data, declared)?
        .take(limit + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::other(format!(
            "the data is larger than {limit} bytes uncompressed"
        )));
    }
    Ok(out)
}

/// A zstd decoder over every frame of a stream (ruzstd's `StreamingDecoder` reads one frame),
/// skipping skippable frames.
struct ZstdReader<R> {
    source: R,
    frame: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdReader<R> {
    fn new(source: R) -> io::Result<Self> {
        let mut reader = ZstdReader {
            source,
            frame: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        };
        if !reader.start_frame()? {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the zstd stream is empty",
            ));
        }
        Ok(reader)
    }

    /// Starts the next data frame; false at the end of the stream.
    fn start_frame(&mut self) -> io::Result<bool> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.frame.reset(&mut self.source) {
                Ok(()) => {
                    self.in_frame = true;
                    return Ok(true);
                }
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped = io::copy(
                        &mut (&mut self.source).take(u64::from(length)),
                        &mut io::sink(),
                    )?;
                    if skipped != u64::from(length) {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "truncated zstd skippable frame",
                        ));
                    }
                }
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame && !self.start_frame()? {
                return Ok(0);
            }
            while self.frame.can_collect() < buf.len() && !self.frame.is_finished() {
                let wanted = buf.len() - self.frame.can_collect();
                self.frame
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(wanted))
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
            let n = self.frame.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.frame.is_finished() {
                self.in_frame = false;
            }
        }
    }
}

/// How an initrd's cpio archive is compressed. Debian's kernels accept both gzip and zstd
/// (`CONFIG_RD_GZIP`, `CONFIG_RD_ZSTD`); gzip is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// The bare archive.
    None,
    /// gzip at level 9 with a fixed header (no name, mtime 0, OS 255 "unknown").
    #[default]
    Gzip,
    /// zstd, ruzstd's "fastest" level (about zstd -1), one frame with a content checksum.
    Zstd,
}

impl Compression {
    /// Compresses `data`. Deterministic: the same input gives the same bytes.
    pub fn compress(self, data: &[u8]) -> io::Result<Vec<u8>> {
        match self {
            Compression::None => Ok(data.to_vec()),
            Compression::Gzip => {
                let mut enc = flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(255)
                    .write(Vec::new(), flate2::Compression::best());
                enc.write_all(data)?;
                enc.finish()
            }
            // ruzstd's encoder unwraps its reader's and writer's errors, so it only ever sees a
            // slice and a Vec, neither of which fails; so it compresses in memory.
            Compression::Zstd => Ok(ruzstd::encoding::compress_to_vec(
                data,
                ruzstd::encoding::CompressionLevel::Fastest,
            )),
        }
    }
}

/// The preset of [`xz_kernel_module`]: presets above 3 switch to the slow match finder, which
/// gains about 7 % on modules for five times the time.
pub const KERNEL_MODULE_XZ_PRESET: u32 = 3;

/// A kernel module compressed the way the kernel's own `modules_install` does with
/// `CONFIG_MODULE_COMPRESS_XZ`: one xz stream with a CRC32 check (the kernel's decompressor
/// knows no other) and LZMA2 with a 1 MiB dictionary, which bounds the memory a reader needs
/// (strata-init decompresses modules in memory at boot). Deterministic.
pub fn xz_kernel_module(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut options = lzma_rust2::XzOptions::with_preset(KERNEL_MODULE_XZ_PRESET);
    options.lzma_options.dict_size = 1 << 20;
    options.set_check_sum_type(lzma_rust2::CheckType::Crc32);
    let mut w = lzma_rust2::XzWriter::new(Vec::with_capacity(data.len() / 3), options)?;
    w.write_all(data)?;
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `strata strata` compressed by `xz` (the crate has no xz encoder).
    const XZ: &[u8] = &[
        0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, 0xe6, 0xd6, 0xb4, 0x46, 0x02, 0x00, 0x21,
        0x01, 0x16, 0x00, 0x00, 0x00, 0x74, 0x2f, 0xe5, 0xa3, 0x01, 0x00, 0x0c, 0x73, 0x74, 0x72,
        0x61, 0x74, 0x61, 0x20, 0x73, 0x74, 0x72, 0x61, 0x74, 0x61, 0x00, 0x00, 0x00, 0x00, 0x6e,
        0x68, 0x1e, 0xdc, 0x7f, 0xdc, 0xaf, 0x24, 0x00, 0x01, 0x25, 0x0d, 0x71, 0x19, 0xc4, 0xb6,
        0x1f, 0xb6, 0xf3, 0x7d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x04, 0x59, 0x5a,
    ];

    #[test]
    fn every_format_round_trips_by_its_magic() {
        let data = b"strata strata strata strata".repeat(100);
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let packed = c.compress(&data).unwrap();
            assert_eq!(decompress(&packed).unwrap(), data, "{c:?}");
        }
        assert_eq!(Format::detect(XZ), Format::Xz);
        assert_eq!(decompress(XZ).unwrap(), b"strata strata");
    }

    #[test]
    fn zstd_reads_every_frame_and_skips_skippable_ones() {
        let mut stream = Compression::Zstd.compress(b"one ").unwrap();
        // A skippable frame: magic 0x184D2A50, length 3, three bytes.
        stream.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        stream.extend(Compression::Zstd.compress(b"two").unwrap());
        assert_eq!(decompress(&stream).unwrap(), b"one two");
    }

    #[test]
    fn declared_formats_are_checked_and_limits_hold() {
        let gz = Compression::Gzip.compress(b"abc").unwrap();
        let err = match decoder_expecting(&gz[..], Format::Zstd) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("gzip accepted as zstd"),
        };
        assert_eq!(err, "expected zstd data, found gzip data");
        assert!(decoder_expecting(&b""[..], Format::Zstd).is_err());
        let big = Compression::Gzip.compress(&[0; 1000]).unwrap();
        assert!(decompress_limited(&big, None, 999).is_err());
        assert_eq!(
            decompress_limited(&big, Some(Format::Gzip), 1000)
                .unwrap()
                .len(),
            1000
        );
        assert!(decompress_limited(b"not xz", Some(Format::Xz), 1000).is_err());
    }
}
