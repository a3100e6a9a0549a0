//! Unpacking Debian binary packages (`.deb`) without dpkg.
//!
//! A `.deb` (deb(5)) is an `ar` archive whose members are, in this order:
//!
//! 1. `debian-binary`: the format version, `2.0\n` (readers accept any `2.x` first line and
//!    ignore further lines, as deb(5) asks);
//! 2. `control.tar[.gz|.xz|.zst]`: the control information, of which `./control` is read;
//! 3. `data.tar[.gz|.xz|.zst]`: the files, extracted by [`unpack_deb`].
//!
//! Members whose names start with `_` may appear between them and are ignored; anything after
//! `data.tar` is ignored; any other member is an error.
//!
//! Extraction is strict, because a package is input from the outside world:
//!
//! - entry paths (and hard-link targets) that are absolute or contain `..` are rejected;
//! - every entry is created relative to a directory file descriptor that was reached from the
//!   destination by opening one real directory at a time with `O_NOFOLLOW`, so a symlink
//!   created by an earlier entry is never followed; files are created with
//!   `O_CREAT | O_EXCL | O_NOFOLLOW`, so an existing entry (a symlink included) is never
//!   overwritten or written through;
//! - device nodes and FIFOs are errors; regular files keep their permission bits (so executables
//!   stay executable) but lose setuid, setgid and sticky; directories lose setuid and setgid;
//!   ownership and modification times are not restored;
//! - on any error the destination is removed again, so it either holds the whole package or
//!   does not exist.
//!
//! Decompression is pure Rust: `flate2` (gzip), `lzma-rust2` (xz), `ruzstd` (zstd).

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Take};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// The global header every `ar` archive starts with.
pub const AR_MAGIC: &[u8; 8] = b"!<arch>\n";
/// The length of an `ar` member header.
const AR_HEADER_LEN: u64 = 60;
/// The largest `debian-binary` member accepted.
const MAX_DEBIAN_BINARY: u64 = 4096;
/// The largest `./control` file accepted.
const MAX_CONTROL: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// ar

/// What is wrong with an `ar` archive. Every variant names the byte offset of the problem.
#[derive(Debug, thiserror::Error)]
pub enum ArError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("find the ar global header at byte 0: expected \"!<arch>\\n\", found {found:?}")]
    BadMagic { found: String },
    #[error(
        "read the member header at byte {offset}: the file ends after {remaining} bytes, \
         a header needs 60"
    )]
    TruncatedHeader { offset: u64, remaining: u64 },
    #[error(
        "read the member header at byte {offset}: its end marker (at byte {}) is {found:?}, \
         expected \"`\\n\"", offset + 58
    )]
    BadHeaderMagic { offset: u64, found: String },
    #[error("read the member header at byte {offset}: its {field} field {value:?} is not valid")]
    BadField {
        offset: u64,
        field: &'static str,
        value: String,
    },
    #[error(
        "read member {name:?} (header at byte {offset}): it claims {size} bytes but only \
         {remaining} remain in the file"
    )]
    SizeBeyondEof {
        offset: u64,
        name: String,
        size: u64,
        remaining: u64,
    },
    #[error(
        "read the member header at byte {offset}: long member names ({name:?}) are not used \
         by .deb files and not supported"
    )]
    UnsupportedName { offset: u64, name: String },
}

/// One member of an `ar` archive, as its header describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArMember {
    /// The name, without GNU's trailing `/` and the space padding.
    pub name: String,
    pub mtime: u64,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    /// The length of the data in bytes (without the alignment padding).
    pub size: u64,
    /// Where the member's header starts.
    pub header_offset: u64,
    /// Where the member's data starts.
    pub data_offset: u64,
}

/// An `ar` archive whose member headers have all been read and validated.
#[derive(Debug)]
pub struct ArArchive<R> {
    reader: R,
    members: Vec<ArMember>,
}

impl<R: Read + Seek> ArArchive<R> {
    /// Reads and validates the global header and every member header, seeking over the data.
    pub fn new(mut reader: R) -> Result<Self, ArError> {
        let len = reader.seek(SeekFrom::End(0))?;
        reader.seek(SeekFrom::Start(0))?;
        let mut magic = [0u8; 8];
        let got = read_up_to(&mut reader, &mut magic)?;
        if &magic[..got] != AR_MAGIC {
            return Err(ArError::BadMagic {
                found: String::from_utf8_lossy(&magic[..got]).into_owned(),
            });
        }
        let mut members = Vec::new();
        let mut offset = AR_MAGIC.len() as u64;
        while offset < len {
            let remaining = len - offset;
            if remaining < AR_HEADER_LEN {
                return Err(ArError::TruncatedHeader { offset, remaining });
            }
            reader.seek(SeekFrom::Start(offset))?;
            let mut header = [0u8; AR_HEADER_LEN as usize];
            reader.read_exact(&mut header)?;
            let member = parse_ar_header(&header, offset)?;
            let remaining = len - member.data_offset;
            if member.size > remaining {
                return Err(ArError::SizeBeyondEof {
                    offset,
                    name: member.name,
                    size: member.size,
                    remaining,
                });
            }
            // Data is padded to an even length; a missing pad byte at the very end is tolerated.
            offset = (member.data_offset + member.size + (member.size & 1)).min(len);
            members.push(member);
        }
        Ok(ArArchive { reader, members })
    }

    /// The members in archive order.
    pub fn members(&self) -> &[ArMember] {
        &self.members
    }

    /// A reader over the data of member `index` (an index into [`ArArchive::members`]).
    pub fn member_data(&mut self, index: usize) -> io::Result<Take<&mut R>> {
        let member = self.members.get(index).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the archive has no member number {index}"),
            )
        })?;
        let (start, size) = (member.data_offset, member.size);
        self.reader.seek(SeekFrom::Start(start))?;
        Ok((&mut self.reader).take(size))
    }
}

fn parse_ar_header(header: &[u8; 60], offset: u64) -> Result<ArMember, ArError> {
    if &header[58..60] != b"`\n" {
        return Err(ArError::BadHeaderMagic {
            offset,
            found: String::from_utf8_lossy(&header[58..60]).into_owned(),
        });
    }
    let bad = |field: &'static str, raw: &[u8]| ArError::BadField {
        offset,
        field,
        value: String::from_utf8_lossy(raw).into_owned(),
    };
    let raw_name = trim_spaces(&header[0..16]);
    let name = std::str::from_utf8(raw_name)
        .ok()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("name", &header[0..16]))?;
    let name = if name.starts_with("#1/")
        || (name.len() > 1
            && name.starts_with('/')
            && name[1..].bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ArError::UnsupportedName {
            offset,
            name: name.to_owned(),
        });
    } else if name != "/" && name != "//" {
        name.strip_suffix('/').unwrap_or(name)
    } else {
        name
    };
    let number =
        |field: &'static str, range: std::ops::Range<usize>, radix: u32, required: bool| {
            let raw = &header[range];
            let digits = trim_spaces(raw);
            if digits.is_empty() && !required {
                return Ok(0);
            }
            std::str::from_utf8(digits)
                .ok()
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| u64::from_str_radix(d, radix).ok())
                .ok_or_else(|| bad(field, raw))
        };
    let small = |field: &'static str, value: u64, raw: &[u8]| {
        u32::try_from(value).map_err(|_| bad(field, raw))
    };
    let mtime = number("mtime", 16..28, 10, false)?;
    let uid = small("uid", number("uid", 28..34, 10, false)?, &header[28..34])?;
    let gid = small("gid", number("gid", 34..40, 10, false)?, &header[34..40])?;
    let mode = small("mode", number("mode", 40..48, 8, false)?, &header[40..48])?;
    let size = number("size", 48..58, 10, true)?;
    Ok(ArMember {
        name: name.to_owned(),
        mtime,
        uid,
        gid,
        mode,
        size,
        header_offset: offset,
        data_offset: offset + AR_HEADER_LEN,
    })
}

fn trim_spaces(raw: &[u8]) -> &[u8] {
    let start = raw.iter().position(|&b| b != b' ').unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |e| e + 1);
    &raw[start..end]
}

/// Reads until `buf` is full or the reader ends; returns how much was read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

// ---------------------------------------------------------------------------------------------
// errors

/// Why a `.deb` could not be read or unpacked. Messages read well after "failed to".
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    #[error("open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("read {path} as an ar archive: {source}")]
    Ar { path: PathBuf, source: ArError },
    #[error("read {path} as a Debian package: {problem}")]
    Format { path: PathBuf, problem: String },
    #[error("read member {member} of {path}: {source}")]
    Member {
        path: PathBuf,
        member: String,
        source: io::Error,
    },
    #[error("parse ./control in {member} of {path}: {problem}")]
    Control {
        path: PathBuf,
        member: String,
        problem: String,
    },
    #[error("create {dest}: it already exists")]
    DestExists { dest: PathBuf },
    #[error("create {dest}: {source}")]
    CreateDest { dest: PathBuf, source: io::Error },
    #[error("extract {entry:?} from {member} of {path}: {problem}")]
    Entry {
        path: PathBuf,
        member: String,
        entry: String,
        problem: String,
    },
    #[error("remove the partly unpacked {dest} after an earlier failure ({original}): {source}")]
    Cleanup {
        dest: PathBuf,
        original: Box<DebError>,
        source: io::Error,
    },
}

// ---------------------------------------------------------------------------------------------
// control fields

/// The fields of a binary package's `control` file (deb822), in file order.
///
/// Names are matched case-insensitively, as deb822 asks. A value is the text after the colon
/// with surrounding whitespace removed; a multi-line value (such as `Description`) keeps its
/// continuation lines as they are (leading space included, trailing whitespace removed), joined
/// with `\n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlFields {
    fields: Vec<(String, String)>,
}

impl ControlFields {
    /// Parses one deb822 paragraph. Errors name the 1-based line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut ended = false;
        for (index, line) in text.split('\n').enumerate() {
            let lineno = index + 1;
            if line.trim().is_empty() {
                ended |= !fields.is_empty();
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            if ended {
                return Err(format!(
                    "line {lineno}: a second paragraph starts here, a control file has one"
                ));
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = fields.last_mut() else {
                    return Err(format!("line {lineno}: continuation line before any field"));
                };
                value.push('\n');
                value.push_str(line.trim_end());
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(format!(
                    "line {lineno}: expected \"Field: value\", found {line:?}"
                ));
            };
            if name.is_empty()
                || name.starts_with('-')
                || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            {
                return Err(format!("line {lineno}: invalid field name {name:?}"));
            }
            if fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                return Err(format!("line {lineno}: field {name} appears twice"));
            }
            fields.push((name.to_owned(), value.trim().to_owned()));
        }
        let parsed = ControlFields { fields };
        for required in ["Package", "Version", "Architecture"] {
            if parsed.get(required).is_none_or(str::is_empty) {
                return Err(format!("the required field {required} is missing or empty"));
            }
        }
        Ok(parsed)
    }

    /// The value of field `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `(name, value)` pairs in file order, names spelled as in the file.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// the package

/// What [`unpack_deb`] found and extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebContents {
    /// The fields of `./control` from the control member.
    pub control: ControlFields,
    /// The name of the control member, e.g. `control.tar.xz`.
    pub control_member: String,
    /// The name of the data member, e.g. `data.tar.xz`.
    pub data_member: String,
    /// Every entry extracted from the data member, relative to the destination, in archive
    /// order (the archive's root `./` is not listed).
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    /// The compression of member `name` if it is `{base}` or `{base}.{gz,xz,zst}`.
    fn of_member(name: &str, base: &str) -> Option<Result<Compression, String>> {
        let rest = name.strip_prefix(base)?;
        Some(match rest {
            "" => Ok(Compression::None),
            ".gz" => Ok(Compression::Gzip),
            ".xz" => Ok(Compression::Xz),
            ".zst" => Ok(Compression::Zstd),
            _ if rest.starts_with('.') => Err(format!(
                "member {name} uses a compression strata does not support (gzip, xz and zstd are)"
            )),
            _ => return None,
        })
    }

    fn decoder<'a>(self, raw: impl BufRead + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(raw),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
            Compression::Xz => Box::new(lzma_rust2::XzReader::new(raw, true)),
            Compression::Zstd => Box::new(ZstdReader::new(raw)?),
        })
    }
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

/// An opened `.deb` whose structure has been checked.
struct Deb {
    path: PathBuf,
    ar: ArArchive<File>,
    control: (usize, Compression),
    data: (usize, Compression),
}

impl Deb {
    fn open(path: &Path) -> Result<Deb, DebError> {
        let file = File::open(path).map_err(|source| DebError::Open {
            path: path.to_owned(),
            source,
        })?;
        let mut ar = ArArchive::new(file).map_err(|source| DebError::Ar {
            path: path.to_owned(),
            source,
        })?;
        let format = |problem: String| DebError::Format {
            path: path.to_owned(),
            problem,
        };
        match ar.members().first() {
            None => return Err(format("the archive has no members".into())),
            Some(m) if m.name != "debian-binary" => {
                return Err(format(format!(
                    "its first member is {:?}, not \"debian-binary\"",
                    m.name
                )))
            }
            Some(m) if m.size > MAX_DEBIAN_BINARY => {
                return Err(format(format!(
                    "its debian-binary member is {} bytes long",
                    m.size
                )))
            }
            Some(_) => {}
        }
        let mut version = Vec::new();
        ar.member_data(0)
            .and_then(|mut r| r.read_to_end(&mut version))
            .map_err(|source| DebError::Member {
                path: path.to_owned(),
                member: "debian-binary".into(),
                source,
            })?;
        check_format_version(&version).map_err(format)?;

        let mut control = None;
        let mut data = None;
        for (index, member) in ar.members().iter().enumerate().skip(1) {
            let name = member.name.as_str();
            if let Some(compression) = Compression::of_member(name, "control.tar") {
                if control.is_some() || data.is_some() {
                    return Err(format(format!("member {name} is out of place")));
                }
                control = Some((index, compression.map_err(format)?));
            } else if let Some(compression) = Compression::of_member(name, "data.tar") {
                if control.is_none() {
                    return Err(format(format!("member {name} comes before control.tar")));
                }
                data = Some((index, compression.map_err(format)?));
                // deb(5): members after data.tar are to be ignored.
                break;
            } else if !name.starts_with('_') {
                return Err(format(format!("it has an unexpected member {name:?}")));
            }
        }
        let control = control.ok_or_else(|| format("it has no control.tar member".into()))?;
        let data = data.ok_or_else(|| format("it has no data.tar member".into()))?;
        Ok(Deb {
            path: path.to_owned(),
            ar,
            control,
            data,
        })
    }

    fn member_name(&self, index: usize) -> String {
        self.ar.members()[index].name.clone()
    }

    fn read_control(&mut self) -> Result<ControlFields, DebError> {
        let (index, compression) = self.control;
        let member = self.member_name(index);
        let path = self.path.clone();
        let io_err = |source| DebError::Member {
            path: path.clone(),
            member: member.clone(),
            source,
        };
        let control_err = |problem: String| DebError::Control {
            path: path.clone(),
            member: member.clone(),
            problem,
        };
        let raw = BufReader::new(self.ar.member_data(index).map_err(io_err)?);
        let mut archive = tar::Archive::new(compression.decoder(raw).map_err(io_err)?);
        for entry in archive.entries().map_err(io_err)? {
            let mut entry = entry.map_err(io_err)?;
            let is_control =
                matches!(split_entry_path(&entry.path_bytes()), Ok(c) if c == [b"control"]);
            if !is_control {
                continue;
            }
            if !entry.header().entry_type().is_file() {
                return Err(control_err("./control is not a regular file".into()));
            }
            if entry.size() > MAX_CONTROL {
                return Err(control_err(format!(
                    "./control is {} bytes long",
                    entry.size()
                )));
            }
            let mut text = Vec::new();
            entry.read_to_end(&mut text).map_err(io_err)?;
            let text = String::from_utf8(text)
                .map_err(|_| control_err("./control is not valid UTF-8".into()))?;
            return ControlFields::parse(&text).map_err(control_err);
        }
        Err(control_err("there is no ./control".into()))
    }
}

fn check_format_version(content: &[u8]) -> Result<(), String> {
    let first = content.split(|&b| b == b'\n').next().unwrap_or_default();
    let ok = content.contains(&b'\n')
        && first
            .strip_prefix(b"2.")
            .is_some_and(|minor| !minor.is_empty() && minor.iter().all(u8::is_ascii_digit));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "its format version (debian-binary) is {:?}, strata reads \"2.0\\n\"",
            String::from_utf8_lossy(content)
        ))
    }
}

/// Reads the `./control` fields of a `.deb` without extracting anything.
pub fn read_control(deb: &Path) -> Result<ControlFields, DebError> {
    Deb::open(deb)?.read_control()
}

/// Unpacks the `.deb` at `deb`: checks its structure, parses `./control` and extracts the data
/// member into `dest`, which must not exist (its parent must). On failure `dest` is removed.
pub fn unpack_deb(deb: &Path, dest: &Path) -> Result<DebContents, DebError> {
    let mut package = Deb::open(deb)?;
    let control = package.read_control()?;
    if fs::symlink_metadata(dest).is_ok() {
        return Err(DebError::DestExists {
            dest: dest.to_owned(),
        });
    }
    if let Err(source) = fs::create_dir(dest) {
        return Err(if source.kind() == io::ErrorKind::AlreadyExists {
            DebError::DestExists {
                dest: dest.to_owned(),
            }
        } else {
            DebError::CreateDest {
                dest: dest.to_owned(),
                source,
            }
        });
    }
    match extract_data(&mut package, dest) {
        Ok(paths) => Ok(DebContents {
            control,
            control_member: package.member_name(package.control.0),
            data_member: package.member_name(package.data.0),
            paths,
        }),
        Err(original) => match remove_tree(dest) {
            Ok(()) => Err(original),
            Err(source) => Err(DebError::Cleanup {
                dest: dest.to_owned(),
                original: Box::new(original),
                source,
            }),
        },
    }
}

fn extract_data(package: &mut Deb, dest: &Path) -> Result<Vec<PathBuf>, DebError> {
    let (index, compression) = package.data;
    let member = package.member_name(index);
    let path = package.path.clone();
    let io_err = |source| DebError::Member {
        path: path.clone(),
        member: member.clone(),
        source,
    };
    let root = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .and_then(|fd| rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755)).map(|()| fd))
    .map_err(|e| DebError::CreateDest {
        dest: dest.to_owned(),
        source: e.into(),
    })?;
    let mut tree = Tree {
        root,
        cached: None,
        dir_modes: Vec::new(),
    };
    let mut paths = Vec::new();
    let raw = BufReader::new(package.ar.member_data(index).map_err(io_err)?);
    let mut archive = tar::Archive::new(compression.decoder(raw).map_err(io_err)?);
    for entry in archive.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        let raw_path = entry.path_bytes().into_owned();
        let entry_err = |problem: String| DebError::Entry {
            path: path.clone(),
            member: member.clone(),
            entry: String::from_utf8_lossy(&raw_path).into_owned(),
            problem,
        };
        if let Some(components) = tree
            .extract(&mut entry)
            .map_err(|e| entry_err(e.to_string()))?
        {
            paths.push(components.iter().map(|c| bytes_path(c)).collect());
        }
    }
    // Directory modes last, children before parents, so a read-only directory does not stop
    // its own extraction.
    for (components, mode) in std::mem::take(&mut tree.dir_modes).into_iter().rev() {
        let shown = String::from_utf8_lossy(&components.join(&b'/')).into_owned();
        let fd = tree.walk(&components, false).map_err(|e| DebError::Entry {
            path: path.clone(),
            member: member.clone(),
            entry: shown.clone(),
            problem: e.to_string(),
        })?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(|e| DebError::Entry {
            path: path.clone(),
            member: member.clone(),
            entry: shown,
            problem: format!("set its mode: {}", io::Error::from(e)),
        })?;
    }
    Ok(paths)
}

fn bytes_path(bytes: &[u8]) -> &Path {
    Path::new(std::ffi::OsStr::from_bytes(bytes))
}

/// Splits a tar entry path into its components, dropping empty and `.` ones; rejects absolute
/// paths and `..`.
fn split_entry_path(raw: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    if raw.starts_with(b"/") {
        return Err("is an absolute path");
    }
    let mut components = Vec::new();
    for component in raw.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => return Err("has a `..` component"),
            _ if component.contains(&0) => return Err("contains a NUL byte"),
            _ => components.push(component),
        }
    }
    Ok(components)
}

/// Why one entry could not be extracted.
#[derive(Debug)]
enum EntryProblem {
    Refused(String),
    Io(&'static str, io::Error),
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryProblem::Refused(why) => f.write_str(why),
            EntryProblem::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

fn refused(why: impl Into<String>) -> EntryProblem {
    EntryProblem::Refused(why.into())
}

fn io_problem(what: &'static str) -> impl FnOnce(Errno) -> EntryProblem {
    move |e| EntryProblem::Io(what, e.into())
}

/// The destination tree, reached only through directory descriptors.
struct Tree {
    root: OwnedFd,
    /// The directory the previous entry was created in, by its components.
    cached: Option<(Vec<Vec<u8>>, OwnedFd)>,
    /// Explicit directories and their final modes, in archive order.
    dir_modes: Vec<(Vec<Vec<u8>>, u32)>,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Tree {
    /// Opens the directory at `components` one real directory at a time, never following a
    /// symlink; with `create`, missing directories are made (mode 0755).
    fn walk<C: AsRef<[u8]>>(
        &self,
        components: &[C],
        create: bool,
    ) -> Result<OwnedFd, EntryProblem> {
        let mut current: Option<OwnedFd> = None;
        for (depth, component) in components.iter().enumerate() {
            let name = bytes_path(component.as_ref());
            let dir = current.as_ref().map_or(self.root.as_fd(), |fd| fd.as_fd());
            let not_dir = || {
                let prefix: Vec<&[u8]> = components[..=depth].iter().map(AsRef::as_ref).collect();
                refused(format!(
                    "{} is not a real directory (a symlink or a file), refusing to go through it",
                    String::from_utf8_lossy(&prefix.join(&b'/'))
                ))
            };
            let next = match rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(io_problem("create a parent directory")(e)),
                    }
                    let fd = rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty()).map_err(
                        |e| match e {
                            Errno::NOTDIR | Errno::LOOP => not_dir(),
                            e => io_problem("open a parent directory")(e),
                        },
                    )?;
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755))
                        .map_err(io_problem("set a parent directory's mode"))?;
                    fd
                }
                Err(Errno::NOTDIR | Errno::LOOP) => return Err(not_dir()),
                Err(e) => return Err(io_problem("open a parent directory")(e)),
            };
            current = Some(next);
        }
        match current {
            Some(fd) => Ok(fd),
            None => rustix::fs::openat(&self.root, ".", DIR_FLAGS, Mode::empty())
                .map_err(io_problem("open the destination")),
        }
    }

    /// The directory holding `components`' last element, created if missing.
    fn parent(&mut self, components: &[&[u8]]) -> Result<BorrowedFd<'_>, EntryProblem> {
        let parents = &components[..components.len() - 1];
        if parents.is_empty() {
            return Ok(self.root.as_fd());
        }
        let hit = matches!(&self.cached, Some((key, _)) if key.iter().map(Vec::as_slice).eq(parents.iter().copied()));
        if !hit {
            let fd = self.walk(parents, true)?;
            let key = parents.iter().map(|c| c.to_vec()).collect();
            return Ok(self.cached.insert((key, fd)).1.as_fd());
        }
        Ok(self
            .cached
            .as_ref()
            .map_or(self.root.as_fd(), |(_, fd)| fd.as_fd()))
    }

    /// Extracts one entry; returns its components if it made something.
    fn extract<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
    ) -> Result<Option<Vec<Vec<u8>>>, EntryProblem> {
        use tar::EntryType as T;
        let raw_path = entry.path_bytes().into_owned();
        let kind = match entry.header().entry_type() {
            T::XGlobalHeader => return Ok(None),
            // Old archives mark directories only by a trailing slash.
            T::Regular | T::Continuous if raw_path.ends_with(b"/") => T::Directory,
            kind => kind,
        };
        let components =
            split_entry_path(&raw_path).map_err(|why| refused(format!("its path {why}")))?;
        let mode = entry
            .header()
            .mode()
            .map_err(|e| EntryProblem::Io("read its mode", e))?;
        let Some(&name) = components.last() else {
            if kind == T::Directory {
                return Ok(None); // the archive's root, `./`
            }
            return Err(refused("it has an empty path but is not a directory"));
        };
        let name = bytes_path(name);
        match kind {
            T::Directory => {
                let parent = self.parent(&components)?;
                match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        let stat = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
                            .map_err(io_problem("inspect the existing entry"))?;
                        if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
                            return Err(refused("it exists already and is not a directory"));
                        }
                    }
                    Err(e) => return Err(io_problem("create the directory")(e)),
                }
                self.dir_modes.push((
                    components.iter().map(|c| c.to_vec()).collect(),
                    mode & 0o1777,
                ));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let expected = entry.size();
                let parent = self.parent(&components)?;
                let fd = rustix::fs::openat(
                    parent,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| match e {
                    Errno::EXIST => refused("it exists already (a duplicate entry)"),
                    e => io_problem("create the file")(e),
                })?;
                let mut file = File::from(fd);
                let written = io::copy(entry, &mut file)
                    .map_err(|e| EntryProblem::Io("write the file", e))?;
                if kind != T::GNUSparse && written != expected {
                    return Err(refused(format!(
                        "the archive ends after {written} of its {expected} bytes"
                    )));
                }
                file.set_permissions(fs::Permissions::from_mode(mode & 0o777))
                    .map_err(|e| EntryProblem::Io("set the file's mode", e))?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| refused("it is a symlink without a target"))?;
                if target.contains(&0) {
                    return Err(refused("its symlink target contains a NUL byte"));
                }
                let parent = self.parent(&components)?;
                rustix::fs::symlinkat(bytes_path(&target), parent, name).map_err(|e| match e {
                    Errno::EXIST => refused("it exists already (a duplicate entry)"),
                    e => io_problem("create the symlink")(e),
                })?;
            }
            T::Link => {
                let raw_target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let shown_target = String::from_utf8_lossy(&raw_target).into_owned();
                let target = split_entry_path(&raw_target).map_err(|why| {
                    refused(format!("its hard link target {shown_target:?} {why}"))
                })?;
                let Some((&target_name, target_parents)) = target.split_last() else {
                    return Err(refused("it is a hard link without a target"));
                };
                let target_dir = self.walk(target_parents, false).map_err(|e| match e {
                    EntryProblem::Io(_, e) if e.kind() == io::ErrorKind::NotFound => refused(
                        format!("its hard link target {shown_target:?} does not exist"),
                    ),
                    e => e,
                })?;
                let parent = self.parent(&components)?;
                rustix::fs::linkat(
                    &target_dir,
                    bytes_path(target_name),
                    parent,
                    name,
                    AtFlags::empty(),
                )
                .map_err(|e| match e {
                    Errno::EXIST => refused("it exists already (a duplicate entry)"),
                    Errno::NOENT => refused(format!(
                        "its hard link target {shown_target:?} does not exist"
                    )),
                    e => io_problem("create the hard link")(e),
                })?;
            }
            T::Char | T::Block => {
                return Err(refused("it is a device node, which strata does not create"))
            }
            T::Fifo => return Err(refused("it is a FIFO, which strata does not create")),
            other => {
                return Err(refused(format!(
                    "its tar entry type {:?} is not supported",
                    other.as_byte() as char
                )))
            }
        }
        Ok(Some(components.iter().map(|c| c.to_vec()).collect()))
    }
}

/// Removes a partly unpacked tree, first making its directories writable. Never follows
/// symlinks.
fn remove_tree(dest: &Path) -> io::Result<()> {
    fn make_writable(dir: &Path) -> io::Result<()> {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                make_writable(&entry.path())?;
            }
        }
        Ok(())
    }
    match fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => {
            // Best effort: removal below reports what really matters.
            let _ = make_writable(dest);
            fs::remove_dir_all(dest)
        }
        Ok(_) => fs::remove_file(dest),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::process::Command;

    /// An `ar` archive with GNU-style member names.
    fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = AR_MAGIC.to_vec();
        for (name, data) in members {
            let header = format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                format!("{name}/"),
                0,
                0,
                0,
                "100644",
                data.len()
            );
            assert_eq!(header.len(), 60);
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    /// One entry of a hand-made tar: its raw path is written as is, unchecked.
    struct RawEntry<'a> {
        path: &'a str,
        kind: tar::EntryType,
        link: &'a str,
        data: &'a [u8],
        mode: u32,
    }

    fn file<'a>(path: &'a str, data: &'a [u8], mode: u32) -> RawEntry<'a> {
        RawEntry {
            path,
            kind: tar::EntryType::Regular,
            link: "",
            data,
            mode,
        }
    }

    fn link<'a>(path: &'a str, kind: tar::EntryType, target: &'a str) -> RawEntry<'a> {
        RawEntry {
            path,
            kind,
            link: target,
            data: b"",
            mode: 0o777,
        }
    }

    fn dir(path: &str, mode: u32) -> RawEntry<'_> {
        RawEntry {
            path,
            kind: tar::EntryType::Directory,
            link: "",
            data: b"",
            mode,
        }
    }

    fn raw_tar(entries: &[RawEntry<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in entries {
            let mut header = tar::Header::new_gnu();
            let old = header.as_old_mut();
            old.name[..entry.path.len()].copy_from_slice(entry.path.as_bytes());
            old.linkname[..entry.link.len()].copy_from_slice(entry.link.as_bytes());
            header.set_entry_type(entry.kind);
            header.set_size(entry.data.len() as u64);
            header.set_mode(entry.mode);
            header.set_mtime(0);
            header.set_cksum();
            builder.append(&header, entry.data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    const CONTROL: &str = "Package: crafted\nVersion: 1.0\nArchitecture: all\n\
                           Description: a hand-made package\n";

    fn control_tar_gz(control: &str) -> Vec<u8> {
        gzip(&raw_tar(&[
            dir("./", 0o755),
            file("./control", control.as_bytes(), 0o644),
        ]))
    }

    /// A .deb around `data_tar` (an uncompressed `data.tar`).
    fn crafted_deb(data_tar: &[u8]) -> Vec<u8> {
        ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", &control_tar_gz(CONTROL)),
            ("data.tar", data_tar),
        ])
    }

    struct Scratch {
        dir: tempfile::TempDir,
    }

    impl Scratch {
        fn new() -> Scratch {
            Scratch {
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }
        fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.path(name);
            fs::write(&path, bytes).unwrap();
            path
        }
        /// Unpacks `deb` bytes, expecting a failure; checks that no destination is left.
        fn unpack_err(&self, deb: &[u8]) -> DebError {
            let deb = self.write("bad.deb", deb);
            let dest = self.path("dest");
            let err = unpack_deb(&deb, &dest).expect_err("unpacking should fail");
            assert!(
                !dest.exists(),
                "{} left behind after: {err}",
                dest.display()
            );
            assert!(
                fs::symlink_metadata(&dest).is_err(),
                "dest left behind as a symlink"
            );
            err
        }
    }

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    // -- real .deb files made by dpkg-deb ------------------------------------------------

    const REAL_CONTROL: &str = "\
Package: strata-test
Version: 1:2.3-4
Architecture: all
Maintainer: strata <strata@example.invalid>
Pre-Depends: dpkg (>= 1.19)
Depends: libc6 (>= 2.36),
 libfoo1 | libbar2
Provides: strata-hello
Description: a test package
 Made by strata's tests.
 .
 With a blank line.
";

    fn build_with_dpkg(scratch: &Scratch, compression: &str) -> PathBuf {
        let root = scratch.path(&format!("pkg-{compression}"));
        let debian = root.join("DEBIAN");
        fs::create_dir_all(&debian).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&debian, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(debian.join("control"), REAL_CONTROL).unwrap();
        let bin = root.join("usr/bin");
        fs::create_dir_all(&bin).unwrap();
        fs::write(bin.join("hello"), "#!/bin/sh\necho hello\n").unwrap();
        fs::set_permissions(bin.join("hello"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("hello", bin.join("hi")).unwrap();
        let doc = root.join("usr/share/doc/strata-test");
        fs::create_dir_all(&doc).unwrap();
        fs::write(doc.join("README"), "read me\n").unwrap();
        fs::set_permissions(doc.join("README"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::hard_link(doc.join("README"), doc.join("README.same")).unwrap();
        let etc = root.join("etc/strata-test");
        fs::create_dir_all(&etc).unwrap();
        fs::set_permissions(&etc, fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink("/etc/strata-test", root.join("usr/share/abs-link")).unwrap();
        let out = scratch.path(&format!("strata-test-{compression}.deb"));
        let status = Command::new("dpkg-deb")
            .arg("--root-owner-group")
            .arg(format!("-Z{compression}"))
            .arg("--build")
            .arg(&root)
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run dpkg-deb (dpkg must be installed)");
        assert!(status.success(), "dpkg-deb -Z{compression} failed");
        out
    }

    fn check_real_unpack(compression: &str, member_suffix: &str) {
        let scratch = Scratch::new();
        let deb = build_with_dpkg(&scratch, compression);
        let dest = scratch.path("out");
        let contents = unpack_deb(&deb, &dest).unwrap();
        assert_eq!(contents.data_member, format!("data.tar{member_suffix}"));
        assert!(contents.control_member.starts_with("control.tar"));

        let control = &contents.control;
        let names: Vec<&str> = control.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "Package",
                "Version",
                "Architecture",
                "Maintainer",
                "Installed-Size",
                "Pre-Depends",
                "Depends",
                "Provides",
                "Description"
            ]
            .iter()
            .filter(|n| names.contains(n))
            .copied()
            .collect::<Vec<_>>()
        );
        assert_eq!(control.get("package"), Some("strata-test"));
        assert_eq!(control.get("Version"), Some("1:2.3-4"));
        assert_eq!(control.get("Architecture"), Some("all"));
        assert_eq!(control.get("Pre-Depends"), Some("dpkg (>= 1.19)"));
        assert_eq!(
            control.get("Depends"),
            Some("libc6 (>= 2.36),\n libfoo1 | libbar2")
        );
        assert_eq!(control.get("Provides"), Some("strata-hello"));
        assert_eq!(
            control.get("Description"),
            Some("a test package\n Made by strata's tests.\n .\n With a blank line.")
        );
        assert_eq!(control.get("Conflicts"), None);
        assert_eq!(read_control(&deb).unwrap(), contents.control);

        let hello = dest.join("usr/bin/hello");
        assert_eq!(
            fs::read_to_string(&hello).unwrap(),
            "#!/bin/sh\necho hello\n"
        );
        assert_eq!(mode_of(&hello), 0o755);
        assert_eq!(
            fs::read_link(dest.join("usr/bin/hi")).unwrap(),
            Path::new("hello")
        );
        assert_eq!(
            fs::read_link(dest.join("usr/share/abs-link")).unwrap(),
            Path::new("/etc/strata-test")
        );
        let doc = dest.join("usr/share/doc/strata-test");
        assert_eq!(fs::read_to_string(doc.join("README")).unwrap(), "read me\n");
        assert_eq!(mode_of(&doc.join("README")), 0o644);
        let (a, b) = (
            fs::metadata(doc.join("README")).unwrap(),
            fs::metadata(doc.join("README.same")).unwrap(),
        );
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "hard link kept");
        assert!(dest.join("etc/strata-test").is_dir());
        assert_eq!(mode_of(&dest.join("etc/strata-test")), 0o750);
        assert!(!dest.join("DEBIAN").exists());

        let mut paths: Vec<String> = contents
            .paths
            .iter()
            .map(|p| p.to_str().unwrap().to_owned())
            .collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "etc",
                "etc/strata-test",
                "usr",
                "usr/bin",
                "usr/bin/hello",
                "usr/bin/hi",
                "usr/share",
                "usr/share/abs-link",
                "usr/share/doc",
                "usr/share/doc/strata-test",
                "usr/share/doc/strata-test/README",
                "usr/share/doc/strata-test/README.same",
            ]
        );

        // A second unpack into the same place is refused and leaves it alone.
        let err = unpack_deb(&deb, &dest).unwrap_err();
        assert!(matches!(err, DebError::DestExists { .. }), "{err}");
        assert!(hello.exists());
    }

    #[test]
    fn unpacks_dpkg_deb_gzip() {
        check_real_unpack("gzip", ".gz");
    }

    #[test]
    fn unpacks_dpkg_deb_xz() {
        check_real_unpack("xz", ".xz");
    }

    #[test]
    fn unpacks_dpkg_deb_zstd() {
        check_real_unpack("zstd", ".zst");
    }

    #[test]
    fn unpacks_dpkg_deb_uncompressed() {
        check_real_unpack("none", "");
    }

    /// Packages apt has downloaded, if any: this test never downloads anything.
    #[test]
    fn unpacks_cached_debian_packages() {
        let Ok(dir) = fs::read_dir("/var/cache/apt/archives") else {
            return;
        };
        let mut debs: Vec<(u64, PathBuf)> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "deb"))
            .filter_map(|p| Some((fs::metadata(&p).ok()?.len(), p)))
            .collect();
        debs.sort();
        for (_, deb) in debs.iter().take(5) {
            let scratch = Scratch::new();
            let dest = scratch.path("out");
            let contents = unpack_deb(deb, &dest).unwrap();
            let file_name = deb.file_name().unwrap().to_str().unwrap();
            let package = contents.control.get("Package").unwrap();
            assert!(file_name.starts_with(&format!("{package}_")), "{file_name}");
            for path in &contents.paths {
                assert!(fs::symlink_metadata(dest.join(path)).is_ok(), "{path:?}");
            }
        }
    }

    // -- hand-made archives ------------------------------------------------------------

    #[test]
    fn crafted_deb_unpacks_and_drops_setuid() {
        let scratch = Scratch::new();
        let data = raw_tar(&[
            dir("./", 0o755),
            dir("./usr/bin/", 0o2755),
            file("./usr/bin/su-like", b"x", 0o4755),
            file("./usr/bin/odd", b"odd", 0o640),
            link("./usr/bin/again", tar::EntryType::Link, "./usr/bin/odd"),
        ]);
        let deb = scratch.write("ok.deb", &crafted_deb(&data));
        let dest = scratch.path("dest");
        let contents = unpack_deb(&deb, &dest).unwrap();
        assert_eq!(contents.control.get("Package"), Some("crafted"));
        assert_eq!(contents.data_member, "data.tar");
        assert_eq!(mode_of(&dest.join("usr/bin/su-like")), 0o755);
        assert_eq!(mode_of(&dest.join("usr/bin")), 0o755);
        assert_eq!(mode_of(&dest.join("usr/bin/odd")), 0o640);
        assert_eq!(fs::read(dest.join("usr/bin/again")).unwrap(), b"odd");
        assert_eq!(mode_of(&dest), 0o755);
    }

    #[test]
    fn ar_reader_reads_members() {
        let bytes = ar(&[("debian-binary", b"2.0\n"), ("odd", b"abc"), ("x", b"")]);
        let mut archive = ArArchive::new(io::Cursor::new(bytes)).unwrap();
        let names: Vec<&str> = archive.members().iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["debian-binary", "odd", "x"]);
        assert_eq!(archive.members()[1].mode, 0o100644);
        assert_eq!(archive.members()[1].data_offset, 8 + 60 + 4 + 60);
        let mut data = String::new();
        archive
            .member_data(1)
            .unwrap()
            .read_to_string(&mut data)
            .unwrap();
        assert_eq!(data, "abc");
    }

    fn ar_error(bytes: Vec<u8>) -> ArError {
        ArArchive::new(io::Cursor::new(bytes)).unwrap_err()
    }

    #[test]
    fn bad_global_magic() {
        let mut bytes = ar(&[("debian-binary", b"2.0\n")]);
        bytes[1] = b'?';
        let err = ar_error(bytes.clone());
        assert!(matches!(err, ArError::BadMagic { .. }), "{err}");
        assert!(err.to_string().contains("byte 0"), "{err}");
        assert!(matches!(
            ar_error(b"!<ar".to_vec()),
            ArError::BadMagic { .. }
        ));
        assert!(matches!(ar_error(Vec::new()), ArError::BadMagic { .. }));
        let err = Scratch::new().unpack_err(&bytes);
        assert!(matches!(err, DebError::Ar { .. }), "{err}");
        assert!(err.to_string().contains("bad.deb"), "{err}");
    }

    #[test]
    fn truncated_header() {
        let mut bytes = ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", b"xx")]);
        bytes.truncate(8 + 60 + 4 + 30);
        let err = ar_error(bytes.clone());
        assert!(
            matches!(
                err,
                ArError::TruncatedHeader {
                    offset: 72,
                    remaining: 30
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("byte 72"), "{err}");
        Scratch::new().unpack_err(&bytes);
    }

    #[test]
    fn member_size_beyond_eof() {
        let mut bytes = ar(&[("debian-binary", b"2.0\n"), ("data.tar", &[0; 100])]);
        bytes.truncate(bytes.len() - 50);
        let err = ar_error(bytes.clone());
        assert!(
            matches!(
                err,
                ArError::SizeBeyondEof {
                    offset: 72,
                    size: 100,
                    remaining: 50,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("\"data.tar\""), "{err}");
        Scratch::new().unpack_err(&bytes);
    }

    #[test]
    fn bad_member_header_magic_and_fields() {
        let good = ar(&[("debian-binary", b"2.0\n")]);
        let mut bytes = good.clone();
        bytes[8 + 58] = b'!';
        let err = ar_error(bytes);
        assert!(
            matches!(err, ArError::BadHeaderMagic { offset: 8, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("byte 66"), "{err}");

        let mut bytes = good.clone();
        bytes[8 + 48..8 + 58].copy_from_slice(b"4x        ");
        let err = ar_error(bytes);
        assert!(
            matches!(
                err,
                ArError::BadField {
                    offset: 8,
                    field: "size",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("\"4x        \""), "{err}");

        let mut bytes = good.clone();
        bytes[8 + 40..8 + 48].copy_from_slice(b"100689  ");
        let err = ar_error(bytes);
        assert!(
            matches!(err, ArError::BadField { field: "mode", .. }),
            "{err}"
        );

        let mut bytes = good.clone();
        bytes[8 + 48..8 + 58].copy_from_slice(b"-4        ");
        let err = ar_error(bytes.clone());
        assert!(
            matches!(err, ArError::BadField { field: "size", .. }),
            "{err}"
        );
        Scratch::new().unpack_err(&bytes);

        let mut bytes = good;
        bytes[8..8 + 16].copy_from_slice(b"/123            ");
        let err = ar_error(bytes);
        assert!(
            matches!(err, ArError::UnsupportedName { offset: 8, .. }),
            "{err}"
        );
    }

    #[test]
    fn missing_debian_binary() {
        let data = raw_tar(&[file("./a", b"a", 0o644)]);
        let err = Scratch::new().unpack_err(&ar(&[
            ("control.tar.gz", &control_tar_gz(CONTROL)),
            ("data.tar", &data),
        ]));
        assert!(matches!(err, DebError::Format { .. }), "{err}");
        assert!(err.to_string().contains("not \"debian-binary\""), "{err}");
        let err = Scratch::new().unpack_err(AR_MAGIC);
        assert!(err.to_string().contains("no members"), "{err}");
    }

    #[test]
    fn wrong_debian_binary_version() {
        let data = raw_tar(&[file("./a", b"a", 0o644)]);
        for version in [&b"3.0\n"[..], b"2.0", b"2.\n", b"20\n", b""] {
            let err = Scratch::new().unpack_err(&ar(&[
                ("debian-binary", version),
                ("control.tar.gz", &control_tar_gz(CONTROL)),
                ("data.tar", &data),
            ]));
            assert!(err.to_string().contains("format version"), "{err}");
        }
        // deb(5): a larger minor number and further lines are to be accepted.
        let scratch = Scratch::new();
        let deb = scratch.write(
            "future.deb",
            &ar(&[
                ("debian-binary", b"2.1\nmore\n"),
                ("_extra", b"ignored"),
                ("control.tar.gz", &control_tar_gz(CONTROL)),
                ("data.tar", &data),
                ("trailing", b"ignored"),
            ]),
        );
        unpack_deb(&deb, &scratch.path("dest")).unwrap();
    }

    #[test]
    fn missing_or_misplaced_members() {
        let data = raw_tar(&[file("./a", b"a", 0o644)]);
        let control = control_tar_gz(CONTROL);
        type Members<'a> = &'a [(&'a str, &'a [u8])];
        let cases: [(Members<'_>, &str); 5] = [
            (
                &[("debian-binary", b"2.0\n"), ("control.tar.gz", &control)],
                "no data.tar",
            ),
            (
                &[("debian-binary", b"2.0\n"), ("data.tar", &data)],
                "before control.tar",
            ),
            (
                &[
                    ("debian-binary", b"2.0\n"),
                    ("surprise", b""),
                    ("control.tar.gz", &control),
                    ("data.tar", &data),
                ],
                "unexpected member \"surprise\"",
            ),
            (
                &[
                    ("debian-binary", b"2.0\n"),
                    ("control.tar.gz", &control),
                    ("data.tar.bz2", &data),
                ],
                "data.tar.bz2",
            ),
            (
                &[
                    ("debian-binary", b"2.0\n"),
                    ("control.tar.gz", &control),
                    ("control.tar", &control),
                    ("data.tar", &data),
                ],
                "out of place",
            ),
        ];
        for (members, expected) in cases {
            let err = Scratch::new().unpack_err(&ar(members));
            assert!(matches!(err, DebError::Format { .. }), "{err}");
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn bad_control_files() {
        let data = raw_tar(&[file("./a", b"a", 0o644)]);
        let cases = [
            ("Version: 1\nArchitecture: all\n", "Package is missing"),
            (
                "Package: a\nVersion: 1\nArchitecture: all\nPackage: b\n",
                "twice",
            ),
            ("Package: a\nVersion 1\nArchitecture: all\n", "line 2"),
            (" continued\nPackage: a\n", "continuation"),
            (
                "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\n",
                "second paragraph",
            ),
        ];
        for (control, expected) in cases {
            let err = Scratch::new().unpack_err(&ar(&[
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", &control_tar_gz(control)),
                ("data.tar", &data),
            ]));
            assert!(matches!(err, DebError::Control { .. }), "{err}");
            assert!(err.to_string().contains(expected), "{expected}: {err}");
        }
        let no_control = gzip(&raw_tar(&[file("./md5sums", b"", 0o644)]));
        let err = Scratch::new().unpack_err(&ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", &no_control),
            ("data.tar", &data),
        ]));
        assert!(err.to_string().contains("no ./control"), "{err}");
        let err = Scratch::new().unpack_err(&ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.xz", b"not xz at all"),
            ("data.tar", &data),
        ]));
        assert!(matches!(err, DebError::Member { .. }), "{err}");
        assert!(err.to_string().contains("control.tar.xz"), "{err}");
    }

    #[test]
    fn corrupt_compressed_data() {
        let data = gzip(&raw_tar(&[
            file("./a", &[7; 100_000], 0o644),
            file("./b", b"b", 0o644),
        ]));
        let control = control_tar_gz(CONTROL);
        let truncated = &data[..data.len() / 2];
        for (name, bytes) in [
            ("data.tar.gz", truncated),
            ("data.tar.xz", b"\xfd7zXZ\0garbage".as_slice()),
            ("data.tar.zst", b"\x28\xb5\x2f\xfdgarbage".as_slice()),
            ("data.tar.zst", b"".as_slice()),
        ] {
            let err = Scratch::new().unpack_err(&ar(&[
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", &control),
                (name, bytes),
            ]));
            assert!(err.to_string().contains(name), "{err}");
        }
        // A tar cut in the middle of a file.
        let plain = raw_tar(&[file("./a", &[7; 10_000], 0o644)]);
        let err = Scratch::new().unpack_err(&crafted_deb(&plain[..5000]));
        assert!(err.to_string().contains("\"./a\""), "{err}");
    }

    fn unsafe_entry(entries: &[RawEntry<'_>], expected: &str) -> Scratch {
        let scratch = Scratch::new();
        fs::create_dir(scratch.path("outside")).unwrap();
        fs::write(scratch.path("outside/victim"), "untouched").unwrap();
        let err = scratch.unpack_err(&crafted_deb(&raw_tar(entries)));
        assert!(matches!(err, DebError::Entry { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
        assert_eq!(
            fs::read_to_string(scratch.path("outside/victim")).unwrap(),
            "untouched"
        );
        let mut outside: Vec<_> = fs::read_dir(scratch.path("outside"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        outside.sort();
        assert_eq!(outside, ["victim"]);
        let mut top: Vec<_> = fs::read_dir(scratch.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        assert_eq!(top, ["bad.deb", "outside"], "nothing written beside dest");
        scratch
    }

    #[test]
    fn rejects_dotdot_paths() {
        unsafe_entry(&[file("../escape", b"x", 0o644)], "\"../escape\"");
        unsafe_entry(&[file("./a/../../escape", b"x", 0o644)], "`..`");
        unsafe_entry(&[dir("./..", 0o755)], "`..`");
        unsafe_entry(
            &[link("../escape", tar::EntryType::Symlink, "/etc/passwd")],
            "`..`",
        );
        unsafe_entry(
            &[
                file("./a", b"a", 0o644),
                link("./../hl", tar::EntryType::Link, "./a"),
            ],
            "`..`",
        );
        unsafe_entry(
            &[link("./hl", tar::EntryType::Link, "../outside/victim")],
            "target \"../outside/victim\" has a `..`",
        );
    }

    #[test]
    fn rejects_absolute_paths() {
        unsafe_entry(&[file("/abs", b"x", 0o644)], "absolute");
        unsafe_entry(
            &[link("./hl", tar::EntryType::Link, "/etc/passwd")],
            "\"/etc/passwd\" is an absolute path",
        );
    }

    #[test]
    fn never_writes_through_symlinks() {
        let scratch = Scratch::new();
        let outside = scratch.path("outside");
        let outside = outside.to_str().unwrap();
        let victim = format!("{outside}/victim");
        unsafe_entry(
            &[
                link("./link", tar::EntryType::Symlink, outside),
                file("./link/evil", b"x", 0o644),
            ],
            "link is not a real directory",
        );
        unsafe_entry(
            &[
                link("./link", tar::EntryType::Symlink, outside),
                dir("./link/sub/", 0o755),
            ],
            "not a real directory",
        );
        unsafe_entry(
            &[
                link("./link", tar::EntryType::Symlink, outside),
                link("./link/hl", tar::EntryType::Link, "./x"),
            ],
            "not a real directory",
        );
        unsafe_entry(
            &[
                link("./link", tar::EntryType::Symlink, "../outside"),
                file("./link/victim", b"x", 0o644),
            ],
            "not a real directory",
        );
        unsafe_entry(
            &[
                link("./link", tar::EntryType::Symlink, &victim),
                file("./link", b"overwritten", 0o644),
            ],
            "exists already",
        );
        unsafe_entry(
            &[
                link("./link", tar::EntryType::Symlink, outside),
                dir("./link", 0o755),
            ],
            "not a directory",
        );
        unsafe_entry(
            &[
                link("./link", tar::EntryType::Symlink, outside),
                link("./hl", tar::EntryType::Link, "./link/victim"),
            ],
            "not a real directory",
        );
        unsafe_entry(
            &[file("./f", b"f", 0o644), file("./f/below", b"x", 0o644)],
            "f is not a real directory",
        );
    }

    #[test]
    fn rejects_devices_and_fifos() {
        let device = RawEntry {
            path: "./dev/null",
            kind: tar::EntryType::Char,
            link: "",
            data: b"",
            mode: 0o666,
        };
        unsafe_entry(&[dir("./dev/", 0o755), device], "\"./dev/null\"");
        let block = RawEntry {
            path: "./dev/sda",
            kind: tar::EntryType::Block,
            link: "",
            data: b"",
            mode: 0o660,
        };
        unsafe_entry(&[block], "device node");
        let fifo = RawEntry {
            path: "./run/fifo",
            kind: tar::EntryType::Fifo,
            link: "",
            data: b"",
            mode: 0o644,
        };
        unsafe_entry(&[fifo], "FIFO");
    }

    #[test]
    fn rejects_duplicates_and_dangling_hard_links() {
        unsafe_entry(
            &[file("./a", b"1", 0o644), file("./a", b"2", 0o644)],
            "exists already",
        );
        unsafe_entry(
            &[link("./hl", tar::EntryType::Link, "./missing")],
            "does not exist",
        );
        unsafe_entry(
            &[link("./hl", tar::EntryType::Link, "./no/such/dir")],
            "does not exist",
        );
        unsafe_entry(
            &[link("./s", tar::EntryType::Symlink, "")],
            "without a target",
        );
    }

    #[test]
    fn dest_must_not_exist_and_parent_must() {
        let scratch = Scratch::new();
        let deb = scratch.write(
            "ok.deb",
            &crafted_deb(&raw_tar(&[file("./a", b"a", 0o644)])),
        );
        let dest = scratch.path("dest");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("keep"), "kept").unwrap();
        let err = unpack_deb(&deb, &dest).unwrap_err();
        assert!(matches!(err, DebError::DestExists { .. }), "{err}");
        assert_eq!(fs::read_to_string(dest.join("keep")).unwrap(), "kept");

        let err = unpack_deb(&deb, &scratch.path("no/such/parent")).unwrap_err();
        assert!(matches!(err, DebError::CreateDest { .. }), "{err}");

        let err = unpack_deb(&scratch.path("missing.deb"), &scratch.path("d2")).unwrap_err();
        assert!(matches!(err, DebError::Open { .. }), "{err}");
        assert!(!scratch.path("d2").exists());
    }

    #[test]
    fn read_only_directories_are_cleaned_up_on_failure() {
        let err = Scratch::new().unpack_err(&crafted_deb(&raw_tar(&[
            dir("./ro/", 0o555),
            file("./ro/a", b"a", 0o444),
            RawEntry {
                path: "./ro/fifo",
                kind: tar::EntryType::Fifo,
                link: "",
                data: b"",
                mode: 0o644,
            },
        ])));
        assert!(err.to_string().contains("FIFO"), "{err}");
    }

    #[test]
    fn control_fields_parse() {
        let fields = ControlFields::parse(
            "Package: p\nVersion: 1\n# comment\nArchitecture:  amd64  \nX-Empty:\n\n\n",
        )
        .unwrap();
        assert_eq!(
            fields.iter().collect::<Vec<_>>(),
            [
                ("Package", "p"),
                ("Version", "1"),
                ("Architecture", "amd64"),
                ("X-Empty", "")
            ]
        );
        assert_eq!(fields.len(), 4);
        assert!(!fields.is_empty());
        assert_eq!(fields.get("ARCHITECTURE"), Some("amd64"));
    }
}
