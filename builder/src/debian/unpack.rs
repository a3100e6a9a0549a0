//! Unpacking Debian binary packages (`.deb`) without dpkg.
//!
//! A `.deb` (deb(5)) is an `ar` archive whose members are, in this order:
//!
//! 1. `debian-binary`: the format version, `2.0\n` (readers accept any `2.x` first line and
//!    ignore further lines, as deb(5) asks);
//! 2. `control.tar[.gz|.xz|.zst]`: the control information, of which `./control` is read and
//!    `control`, `conffiles`, `preinst`, `postinst` and `triggers` are kept in the output's
//!    `DEBIAN/` ([`debian_dir`]);
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
//!   ownership and modification times are not restored; every file, hard link or directory
//!   whose setuid or setgid bit or non-root owner was dropped is listed in
//!   `DEBIAN/strata-modes`;
//! - a data member that holds `DEBIAN/` itself is refused (that name is the control files');
//! - on any error the destination is removed again, so it either holds the whole package or
//!   does not exist.
//!
//! Members are decompressed by [`crate::compress`], which checks the compression a member's
//! name declares against its magic bytes.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Take};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

pub use super::deb822::ControlFields;
use crate::compress::{decoder_expecting, Format};
pub use debian_dir::{DroppedMode, KeepError, DEBIAN_DIR, KEPT_MEMBERS, MODES_FILE};

pub mod debian_dir;

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
    Format {
        path: PathBuf,
        problem: FormatProblem,
    },
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
        problem: ControlProblem,
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
    #[error("keep the control files of {member} of {path} in {DEBIAN_DIR}/: {source}")]
    Keep {
        path: PathBuf,
        member: String,
        source: KeepError,
    },
    #[error("remove the partly unpacked {dest} after an earlier failure ({original}): {source}")]
    Cleanup {
        dest: PathBuf,
        original: Box<DebError>,
        source: io::Error,
    },
}

/// What is wrong with a `.deb`'s `./control`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlProblem {
    #[error("./control is not a regular file")]
    NotAFile,
    #[error("./control is {0} bytes long")]
    TooLong(u64),
    #[error("./control is not valid UTF-8")]
    NotUtf8,
    #[error("there is no ./control")]
    Missing,
    #[error(transparent)]
    Fields(#[from] super::deb822::ControlError),
}

/// What is wrong with a `.deb`'s structure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatProblem {
    #[error("the archive has no members")]
    NoMembers,
    #[error("its first member is {0:?}, not \"debian-binary\"")]
    FirstMember(String),
    #[error("its debian-binary member is {0} bytes long")]
    LongVersion(u64),
    #[error("its format version (debian-binary) is {0:?}, strata reads \"2.0\\n\"")]
    Version(String),
    #[error("member {0} is out of place")]
    OutOfPlace(String),
    #[error("member {0} comes before control.tar")]
    DataBeforeControl(String),
    #[error("it has an unexpected member {0:?}")]
    Unexpected(String),
    #[error("it has no control.tar member")]
    NoControl,
    #[error("it has no data.tar member")]
    NoData,
    #[error("member {0} uses a compression strata does not support (gzip, xz and zstd are)")]
    Compression(String),
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
    /// The control members kept in `DEBIAN/`, in the order of [`KEPT_MEMBERS`].
    pub kept: Vec<&'static str>,
    /// The entries whose setuid/setgid bit or owner was dropped (`DEBIAN/strata-modes`).
    pub dropped: Vec<DroppedMode>,
}

/// The compression a member's name declares: `{base}` or `{base}.{gz,xz,zst}`.
fn member_format(name: &str, base: &str) -> Option<Result<Format, FormatProblem>> {
    let rest = name.strip_prefix(base)?;
    Some(match rest {
        "" => Ok(Format::None),
        ".gz" => Ok(Format::Gzip),
        ".xz" => Ok(Format::Xz),
        ".zst" => Ok(Format::Zstd),
        _ if rest.starts_with('.') => Err(FormatProblem::Compression(name.to_owned())),
        _ => return None,
    })
}

/// An opened `.deb` whose structure has been checked.
struct Deb {
    path: PathBuf,
    ar: ArArchive<File>,
    control: (usize, Format),
    data: (usize, Format),
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
        let format = |problem: FormatProblem| DebError::Format {
            path: path.to_owned(),
            problem,
        };
        match ar.members().first() {
            None => return Err(format(FormatProblem::NoMembers)),
            Some(m) if m.name != "debian-binary" => {
                return Err(format(FormatProblem::FirstMember(m.name.clone())))
            }
            Some(m) if m.size > MAX_DEBIAN_BINARY => {
                return Err(format(FormatProblem::LongVersion(m.size)))
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
            if let Some(compression) = member_format(name, "control.tar") {
                if control.is_some() || data.is_some() {
                    return Err(format(FormatProblem::OutOfPlace(name.to_owned())));
                }
                control = Some((index, compression.map_err(format)?));
            } else if let Some(compression) = member_format(name, "data.tar") {
                if control.is_none() {
                    return Err(format(FormatProblem::DataBeforeControl(name.to_owned())));
                }
                data = Some((index, compression.map_err(format)?));
                // deb(5): members after data.tar are to be ignored.
                break;
            } else if !name.starts_with('_') {
                return Err(format(FormatProblem::Unexpected(name.to_owned())));
            }
        }
        let control = control.ok_or_else(|| format(FormatProblem::NoControl))?;
        let data = data.ok_or_else(|| format(FormatProblem::NoData))?;
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
        let control_err = |problem: ControlProblem| DebError::Control {
            path: path.clone(),
            member: member.clone(),
            problem,
        };
        let raw = BufReader::new(self.ar.member_data(index).map_err(io_err)?);
        let mut archive = tar::Archive::new(decoder_expecting(raw, compression).map_err(io_err)?);
        for entry in archive.entries().map_err(io_err)? {
            let mut entry = entry.map_err(io_err)?;
            let is_control =
                matches!(split_entry_path(&entry.path_bytes()), Ok(c) if c == [b"control"]);
            if !is_control {
                continue;
            }
            if !entry.header().entry_type().is_file() {
                return Err(control_err(ControlProblem::NotAFile));
            }
            if entry.size() > MAX_CONTROL {
                return Err(control_err(ControlProblem::TooLong(entry.size())));
            }
            let mut text = Vec::new();
            entry.read_to_end(&mut text).map_err(io_err)?;
            let text = String::from_utf8(text).map_err(|_| control_err(ControlProblem::NotUtf8))?;
            return ControlFields::parse(&text).map_err(|e| control_err(e.into()));
        }
        Err(control_err(ControlProblem::Missing))
    }

    /// Copies the kept control members into `dest/DEBIAN/` (created here); returns their names
    /// in the order of [`KEPT_MEMBERS`].
    fn keep_control_members(&mut self, dest: &Path) -> Result<Vec<&'static str>, DebError> {
        let (index, compression) = self.control;
        let member = self.member_name(index);
        let path = self.path.clone();
        let io_err = |source| DebError::Member {
            path: path.clone(),
            member: member.clone(),
            source,
        };
        let keep_err = |source| DebError::Keep {
            path: path.clone(),
            member: member.clone(),
            source,
        };
        debian_dir::create(dest).map_err(keep_err)?;
        let raw = BufReader::new(self.ar.member_data(index).map_err(io_err)?);
        let mut archive = tar::Archive::new(decoder_expecting(raw, compression).map_err(io_err)?);
        let mut kept = Vec::new();
        for entry in archive.entries().map_err(io_err)? {
            let mut entry = entry.map_err(io_err)?;
            let name = match split_entry_path(&entry.path_bytes()) {
                Ok(c) => debian_dir::kept_name(&c),
                Err(_) => None,
            };
            let Some(name) = name else { continue };
            let header = entry.header();
            let is_file = matches!(
                header.entry_type(),
                tar::EntryType::Regular | tar::EntryType::Continuous
            );
            let mode = header.mode().map_err(io_err)?;
            let size = entry.size();
            debian_dir::keep(dest, name, is_file, size, mode, &mut entry).map_err(keep_err)?;
            kept.push(name);
        }
        kept.sort_by_key(|k| KEPT_MEMBERS.iter().position(|m| m == k));
        Ok(kept)
    }
}

fn check_format_version(content: &[u8]) -> Result<(), FormatProblem> {
    let first = content.split(|&b| b == b'\n').next().unwrap_or_default();
    let ok = content.contains(&b'\n')
        && first
            .strip_prefix(b"2.")
            .is_some_and(|minor| !minor.is_empty() && minor.iter().all(u8::is_ascii_digit));
    if ok {
        Ok(())
    } else {
        Err(FormatProblem::Version(
            String::from_utf8_lossy(content).into_owned(),
        ))
    }
}

/// Reads the `./control` fields of a `.deb` without extracting anything.
pub fn read_control(deb: &Path) -> Result<ControlFields, DebError> {
    Deb::open(deb)?.read_control()
}

/// Unpacks the `.deb` at `deb`: checks its structure, parses `./control`, extracts the data
/// member into `dest`, which must not exist (its parent must), and keeps the control members
/// and `strata-modes` in `dest/DEBIAN/`. On failure `dest` is removed.
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
    let extracted = extract_data(&mut package, dest).and_then(|(paths, dropped)| {
        let kept = package.keep_control_members(dest)?;
        debian_dir::write_modes(dest, &dropped).map_err(|source| DebError::Keep {
            path: package.path.clone(),
            member: package.member_name(package.data.0),
            source,
        })?;
        Ok((paths, kept, dropped))
    });
    match extracted {
        Ok((paths, kept, dropped)) => Ok(DebContents {
            control,
            control_member: package.member_name(package.control.0),
            data_member: package.member_name(package.data.0),
            paths,
            kept,
            dropped,
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

/// Extracts the data member; returns the entries made and what extraction dropped of them.
fn extract_data(
    package: &mut Deb,
    dest: &Path,
) -> Result<(Vec<PathBuf>, Vec<DroppedMode>), DebError> {
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
    let mut dropped = Vec::new();
    let raw = BufReader::new(package.ar.member_data(index).map_err(io_err)?);
    let mut archive = tar::Archive::new(decoder_expecting(raw, compression).map_err(io_err)?);
    for entry in archive.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        let raw_path = entry.path_bytes().into_owned();
        let entry_err = |problem: String| DebError::Entry {
            path: path.clone(),
            member: member.clone(),
            entry: String::from_utf8_lossy(&raw_path).into_owned(),
            problem,
        };
        let header = entry.header();
        let owned_kind = matches!(
            header.entry_type(),
            tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse
                | tar::EntryType::Directory
                | tar::EntryType::Link
        );
        let owner = (
            header.mode().unwrap_or(0),
            header.uid().unwrap_or(0),
            header.gid().unwrap_or(0),
        );
        if let Some(components) = tree
            .extract(&mut entry)
            .map_err(|e| entry_err(e.to_string()))?
        {
            let (mode, uid, gid) = owner;
            if owned_kind && DroppedMode::drops(mode, uid, gid) {
                dropped.push(DroppedMode {
                    mode: mode & 0o7777,
                    uid,
                    gid,
                    path: components.join(&b'/'),
                });
            }
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
    Ok((paths, dropped))
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
    strata_store::fs::delete_tree(dest).map_err(|e| io::Error::new(e.source.kind(), e.to_string()))
}

#[cfg(test)]
mod tests;
