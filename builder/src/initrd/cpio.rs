//! The cpio "newc" format the kernel unpacks into its initramfs (the kernel's
//! `Documentation/driver-api/early-userspace/buffer-format.rst`, cpio(5)).
//!
//! [`CpioWriter`] writes it. Output is deterministic: owner 0:0, one fixed modification time
//! (0, or `SOURCE_DATE_EPOCH` through [`source_date_epoch`]), inode numbers assigned 1, 2, 3…
//! in the order entries are added, `nlink` 1 (2 for directories), device fields 0 except a
//! device node's `rdev`. Every name is checked (relative, no `.`/`..`/empty components, no NUL,
//! shorter than `PATH_MAX`), must be unique, and its parent directory must have been added
//! before it, so the kernel never has to invent a directory. [`CpioWriter::add_tree`] adds a
//! directory tree in sorted order. [`read_newc`] reads an archive back (for tests and checks).
//!
//! Must not: compress (that is [`crate::compress`]) or choose what goes in (that is
//! [`super`]).

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The magic number every newc header starts with (no CRC; "070702" would be the CRC variant).
pub const NEWC_MAGIC: &[u8; 6] = b"070701";
/// The length of a newc header: the magic and 13 eight-digit hexadecimal fields.
pub const NEWC_HEADER_LEN: usize = 110;
/// The name of the entry that ends an archive.
pub const TRAILER: &str = "TRAILER!!!";
/// The kernel refuses names of `PATH_MAX` bytes or more (with the NUL).
const PATH_MAX: usize = 4096;

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

/// What is wrong with an entry, or the I/O error that stopped the archive.
#[derive(Debug, thiserror::Error)]
pub enum CpioError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("cpio entry name {0:?} is empty")]
    EmptyName(String),
    #[error("cpio entry name {0:?} is absolute; initrd names are relative to its root")]
    AbsoluteName(String),
    #[error("cpio entry name {0:?} contains a NUL byte")]
    NulInName(String),
    #[error("cpio entry name {0:?} contains a `..` component")]
    DotDotInName(String),
    #[error("cpio entry name {0:?} contains an empty or `.` component (write it canonically)")]
    NonCanonicalName(String),
    #[error(
        "cpio entry name {name:?} is {len} bytes long; the kernel accepts fewer than {PATH_MAX}"
    )]
    NameTooLong { name: String, len: usize },
    #[error("cpio entry name {0:?} is reserved for the archive's end marker")]
    ReservedName(String),
    #[error("cpio entry {0:?} is added twice")]
    Duplicate(String),
    #[error("cpio entry {name:?}: its parent directory {parent:?} has not been added before it")]
    MissingParent { name: String, parent: String },
    #[error("cpio entry {name:?}: its parent {parent:?} is not a directory")]
    ParentNotDirectory { name: String, parent: String },
    #[error("cpio entry {name:?}: mode {mode:#o} has bits outside the permission bits 0o7777")]
    BadMode { name: String, mode: u32 },
    #[error("cpio entry {name:?}: {size} bytes do not fit newc's 32-bit size field")]
    TooLarge { name: String, size: u64 },
    #[error("cpio entry {name:?}: the symlink target is empty or contains a NUL byte")]
    BadSymlinkTarget { name: String },
    #[error("cpio entry {name:?}: {path} changed size while being archived ({expected} bytes expected, {found} read)")]
    FileChanged {
        name: String,
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("add {path} to the initrd: {what} are not supported (directories, regular files and symlinks are)")]
    UnsupportedFileType { path: PathBuf, what: &'static str },
    #[error("add {path} to the initrd: its name is not valid UTF-8")]
    NonUtf8Name { path: PathBuf },
    #[error("SOURCE_DATE_EPOCH={0:?} is not a number of seconds between 0 and 4294967295")]
    BadSourceDateEpoch(String),
    #[error("the cpio archive is already finished")]
    Finished,
    #[error("malformed cpio archive at byte {offset}: {problem}")]
    Malformed { offset: usize, problem: String },
}

pub(crate) fn io_err(context: impl fmt::Display) -> impl FnOnce(io::Error) -> CpioError {
    move |source| CpioError::Io {
        context: context.to_string(),
        source,
    }
}

/// Reads `SOURCE_DATE_EPOCH`: `None` when unset or empty, an error when it is not a valid
/// 32-bit number of seconds (the width of newc's mtime field).
pub fn source_date_epoch() -> Result<Option<u32>, CpioError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(CpioError::BadSourceDateEpoch(
            v.to_string_lossy().into_owned(),
        )),
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => v
            .parse::<u32>()
            .map(Some)
            .map_err(|_| CpioError::BadSourceDateEpoch(v)),
    }
}

/// Checks an entry name; see the module documentation for the rules.
pub fn validate_name(name: &str) -> Result<(), CpioError> {
    let err = |f: fn(String) -> CpioError| Err(f(name.to_owned()));
    if name.is_empty() {
        return err(CpioError::EmptyName);
    }
    if name.contains('\0') {
        return err(CpioError::NulInName);
    }
    if name.starts_with('/') {
        return err(CpioError::AbsoluteName);
    }
    if name.split('/').any(|c| c == "..") {
        return err(CpioError::DotDotInName);
    }
    if name.split('/').any(|c| c.is_empty() || c == ".") {
        return err(CpioError::NonCanonicalName);
    }
    if name == TRAILER {
        return err(CpioError::ReservedName);
    }
    if name.len() + 1 >= PATH_MAX {
        return Err(CpioError::NameTooLong {
            name: name.to_owned(),
            len: name.len(),
        });
    }
    Ok(())
}

/// The kind of an entry already written, for the parent checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Other,
}

/// A deterministic writer of cpio newc archives. Add entries parents first, then call
/// [`finish`](Self::finish), which writes the trailer; an archive dropped unfinished has none.
#[derive(Debug)]
pub struct CpioWriter<W: Write> {
    out: W,
    offset: u64,
    next_ino: u32,
    mtime: u32,
    entries: HashMap<String, Kind>,
    finished: bool,
}

impl<W: Write> CpioWriter<W> {
    /// A writer whose entries all have modification time 0.
    pub fn new(out: W) -> Self {
        Self::with_mtime(out, 0)
    }

    /// A writer whose entries all have modification time `mtime` (e.g. `SOURCE_DATE_EPOCH`).
    pub fn with_mtime(out: W, mtime: u32) -> Self {
        CpioWriter {
            out,
            offset: 0,
            next_ino: 1,
            mtime,
            entries: HashMap::new(),
            finished: false,
        }
    }

    /// The number of bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// Whether `name` has been added (as anything).
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Adds a directory with permission bits `mode`.
    pub fn add_dir(&mut self, name: &str, mode: u32) -> Result<(), CpioError> {
        self.check(name, mode)?;
        self.header(name, S_IFDIR | mode, 2, 0, (0, 0))?;
        self.entries.insert(name.to_owned(), Kind::Dir);
        Ok(())
    }

    /// Adds `name` and every missing ancestor as directories with mode 0755; an existing
    /// directory is left alone (an existing non-directory is an error).
    pub fn add_dir_all(&mut self, name: &str) -> Result<(), CpioError> {
        validate_name(name)?;
        let mut end = 0;
        for comp in name.split('/') {
            end += comp.len();
            let prefix = &name[..end];
            match self.entries.get(prefix) {
                Some(Kind::Dir) => {}
                Some(Kind::Other) => {
                    return Err(CpioError::ParentNotDirectory {
                        name: name.to_owned(),
                        parent: prefix.to_owned(),
                    })
                }
                None => self.add_dir(prefix, 0o755)?,
            }
            end += 1;
        }
        Ok(())
    }

    /// Adds a regular file holding `data`.
    pub fn add_file(&mut self, name: &str, mode: u32, data: &[u8]) -> Result<(), CpioError> {
        self.check(name, mode)?;
        let size = self.size32(name, data.len() as u64)?;
        self.header(name, S_IFREG | mode, 1, size, (0, 0))?;
        self.write(data)?;
        self.pad()?;
        self.entries.insert(name.to_owned(), Kind::Other);
        Ok(())
    }

    /// Adds a regular file whose contents are streamed from `path` (its own mode is not used).
    pub fn add_file_from_path(
        &mut self,
        name: &str,
        mode: u32,
        path: &Path,
    ) -> Result<(), CpioError> {
        self.check(name, mode)?;
        let ctx = || format!("read {}", path.display());
        let file = File::open(path).map_err(io_err(ctx()))?;
        let len = file.metadata().map_err(io_err(ctx()))?.len();
        let size = self.size32(name, len)?;
        self.header(name, S_IFREG | mode, 1, size, (0, 0))?;
        let mut counter = Counter {
            inner: &mut self.out,
            n: 0,
        };
        let mut file = file;
        let mut copied =
            io::copy(&mut (&mut file).take(len), &mut counter).map_err(io_err(ctx()))?;
        self.offset += counter.n;
        // A file that grew is noticed too.
        if copied == len {
            copied += file.read(&mut [0u8; 1]).map_err(io_err(ctx()))? as u64;
        }
        if copied != len {
            return Err(CpioError::FileChanged {
                name: name.to_owned(),
                path: path.to_owned(),
                expected: len,
                found: copied,
            });
        }
        self.pad()?;
        self.entries.insert(name.to_owned(), Kind::Other);
        Ok(())
    }

    /// Adds a symbolic link to `target` (mode 0777, as symlinks have).
    pub fn add_symlink(&mut self, name: &str, target: &str) -> Result<(), CpioError> {
        self.check(name, 0o777)?;
        if target.is_empty() || target.contains('\0') {
            return Err(CpioError::BadSymlinkTarget {
                name: name.to_owned(),
            });
        }
        let size = self.size32(name, target.len() as u64)?;
        self.header(name, S_IFLNK | 0o777, 1, size, (0, 0))?;
        self.write(target.as_bytes())?;
        self.pad()?;
        self.entries.insert(name.to_owned(), Kind::Other);
        Ok(())
    }

    /// Adds a character device node `major`:`minor` (the customary one is `dev/console`,
    /// mode 0600, 5:1, which the kernel opens as init's console before init runs).
    pub fn add_char_device(
        &mut self,
        name: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CpioError> {
        self.check(name, mode)?;
        self.header(name, S_IFCHR | mode, 1, 0, (major, minor))?;
        self.entries.insert(name.to_owned(), Kind::Other);
        Ok(())
    }

    /// Adds the contents of directory `src` under `prefix` (`""` for the archive's root;
    /// otherwise `prefix` and its missing ancestors are added as directories first), in sorted
    /// order of names, parents before children. Symlinks are archived as symlinks, never
    /// followed; permission bits are kept; other file types are errors.
    pub fn add_tree(&mut self, src: &Path, prefix: &str) -> Result<(), CpioError> {
        if !prefix.is_empty() {
            self.add_dir_all(prefix)?;
        }
        self.add_tree_contents(src, prefix)
    }

    fn add_tree_contents(&mut self, dir: &Path, prefix: &str) -> Result<(), CpioError> {
        let ctx = || format!("list {}", dir.display());
        let mut children = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(ctx()))? {
            children.push(entry.map_err(io_err(ctx()))?.file_name());
        }
        children.sort();
        for child in children {
            let path = dir.join(&child);
            let Some(child) = child.to_str() else {
                return Err(CpioError::NonUtf8Name { path });
            };
            let name = if prefix.is_empty() {
                child.to_owned()
            } else {
                format!("{prefix}/{child}")
            };
            let meta = fs::symlink_metadata(&path)
                .map_err(io_err(format_args!("stat {}", path.display())))?;
            let ft = meta.file_type();
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
            if ft.is_dir() {
                self.add_dir(&name, mode)?;
                self.add_tree_contents(&path, &name)?;
            } else if ft.is_file() {
                self.add_file_from_path(&name, mode, &path)?;
            } else if ft.is_symlink() {
                let target = fs::read_link(&path)
                    .map_err(io_err(format_args!("read link {}", path.display())))?;
                let Some(target) = target.to_str() else {
                    return Err(CpioError::NonUtf8Name { path });
                };
                self.add_symlink(&name, target)?;
            } else {
                use std::os::unix::fs::FileTypeExt;
                let what = if ft.is_char_device() || ft.is_block_device() {
                    "device nodes in a source tree"
                } else if ft.is_fifo() {
                    "FIFOs"
                } else {
                    "sockets"
                };
                return Err(CpioError::UnsupportedFileType { path, what });
            }
        }
        Ok(())
    }

    /// Writes the trailer, flushes, and returns the underlying writer.
    pub fn finish(mut self) -> Result<W, CpioError> {
        if self.finished {
            return Err(CpioError::Finished);
        }
        self.finished = true;
        // The trailer: inode 0, nlink 1, everything else 0.
        self.raw_header(TRAILER, 0, 0, 1, 0, (0, 0))?;
        self.out.flush().map_err(io_err("write the cpio archive"))?;
        Ok(self.out)
    }

    fn check(&self, name: &str, mode: u32) -> Result<(), CpioError> {
        if self.finished {
            return Err(CpioError::Finished);
        }
        validate_name(name)?;
        if mode & !0o7777 != 0 {
            return Err(CpioError::BadMode {
                name: name.to_owned(),
                mode,
            });
        }
        if self.entries.contains_key(name) {
            return Err(CpioError::Duplicate(name.to_owned()));
        }
        if let Some((parent, _)) = name.rsplit_once('/') {
            match self.entries.get(parent) {
                Some(Kind::Dir) => {}
                Some(Kind::Other) => {
                    return Err(CpioError::ParentNotDirectory {
                        name: name.to_owned(),
                        parent: parent.to_owned(),
                    })
                }
                None => {
                    return Err(CpioError::MissingParent {
                        name: name.to_owned(),
                        parent: parent.to_owned(),
                    })
                }
            }
        }
        Ok(())
    }

    fn size32(&self, name: &str, size: u64) -> Result<u32, CpioError> {
        u32::try_from(size).map_err(|_| CpioError::TooLarge {
            name: name.to_owned(),
            size,
        })
    }

    fn header(
        &mut self,
        name: &str,
        mode: u32,
        nlink: u32,
        filesize: u32,
        rdev: (u32, u32),
    ) -> Result<(), CpioError> {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.raw_header(name, ino, mode, nlink, filesize, rdev)
    }

    fn raw_header(
        &mut self,
        name: &str,
        ino: u32,
        mode: u32,
        nlink: u32,
        filesize: u32,
        (rmaj, rmin): (u32, u32),
    ) -> Result<(), CpioError> {
        let mut h = Vec::with_capacity(NEWC_HEADER_LEN + name.len() + 4);
        h.extend_from_slice(NEWC_MAGIC);
        let namesize = name.len() as u32 + 1;
        // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize
        // check
        let mtime = if ino == 0 { 0 } else { self.mtime };
        for field in [
            ino, mode, 0, 0, nlink, mtime, filesize, 0, 0, rmaj, rmin, namesize, 0,
        ] {
            h.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        h.extend_from_slice(name.as_bytes());
        h.push(0);
        self.write(&h)?;
        self.pad()
    }

    fn write(&mut self, data: &[u8]) -> Result<(), CpioError> {
        self.out
            .write_all(data)
            .map_err(io_err("write the cpio archive"))?;
        self.offset += data.len() as u64;
        Ok(())
    }

    /// Pads with NULs to the next multiple of 4 bytes from the start of the archive.
    fn pad(&mut self) -> Result<(), CpioError> {
        let n = (4 - (self.offset % 4) as usize) % 4;
        self.write(&[0; 3][..n])
    }
}

struct Counter<'a, W> {
    inner: &'a mut W,
    n: u64,
}

impl<W: Write> Write for Counter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One entry of a newc archive, every header field as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewcEntry {
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub devmajor: u32,
    pub devminor: u32,
    pub rdevmajor: u32,
    pub rdevminor: u32,
    pub check: u32,
    pub name: String,
    /// A file's contents, a symlink's target.
    pub data: Vec<u8>,
}

impl NewcEntry {
    /// The file type bits of `mode` (`S_IFDIR`, `S_IFREG`, ...).
    pub fn file_type(&self) -> u32 {
        self.mode & 0o170_000
    }

    pub fn is_file(&self) -> bool {
        self.file_type() == S_IFREG
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }

    pub fn is_symlink(&self) -> bool {
        self.file_type() == S_IFLNK
    }
}

/// Reads a newc archive strictly (the trailer included): the magic, every field exactly 8
/// lowercase hex digits, NUL-terminated UTF-8 names, NUL padding to 4 bytes after names and
/// data, nothing after the padded trailer. Errors name the byte offset.
pub fn read_newc(buf: &[u8]) -> Result<Vec<NewcEntry>, CpioError> {
    let bad = |offset: usize, problem: &str| CpioError::Malformed {
        offset,
        problem: problem.to_owned(),
    };
    let take = |pos: usize, len: usize| -> Result<&[u8], CpioError> {
        buf.get(pos..pos.saturating_add(len))
            .ok_or_else(|| bad(pos, "the archive ends early"))
    };
    let pad = |pos: usize| -> Result<usize, CpioError> {
        let end = pos.next_multiple_of(4);
        if take(pos, end - pos)?.iter().any(|&b| b != 0) {
            return Err(bad(pos, "padding is not NUL bytes"));
        }
        Ok(end)
    };
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        let h = take(pos, NEWC_HEADER_LEN)?;
        if &h[..6] != NEWC_MAGIC {
            return Err(bad(pos, "no newc magic 070701"));
        }
        let mut f = [0u32; 13];
        for (i, v) in f.iter_mut().enumerate() {
            let field = &h[6 + 8 * i..14 + 8 * i];
            if !field
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            {
                return Err(bad(pos + 6 + 8 * i, "a header field is not 8 hex digits"));
            }
            *v = field.iter().fold(0u32, |acc, &b| {
                (acc << 4) | (b as char).to_digit(16).unwrap_or(0)
            });
        }
        let namesize = f[11] as usize;
        let name_start = pos + NEWC_HEADER_LEN;
        let name_bytes = take(name_start, namesize)?;
        let Some((&0, name)) = name_bytes.split_last() else {
            return Err(bad(name_start, "the name is not NUL-terminated"));
        };
        if name.contains(&0) {
            return Err(bad(name_start, "the name contains a NUL byte"));
        }
        let name = String::from_utf8(name.to_vec())
            .map_err(|_| bad(name_start, "the name is not UTF-8"))?;
        pos = pad(name_start + namesize)?;
        let size = f[6] as usize;
        let data = take(pos, size)?.to_vec();
        pos = pad(pos + size)?;
        let done = name == TRAILER;
        out.push(NewcEntry {
            ino: f[0],
            mode: f[1],
            uid: f[2],
            gid: f[3],
            nlink: f[4],
            mtime: f[5],
            devmajor: f[7],
            devminor: f[8],
            rdevmajor: f[9],
            rdevminor: f[10],
            check: f[12],
            name,
            data,
        });
        if done {
            if pos != buf.len() {
                return Err(bad(pos, "bytes follow the trailer"));
            }
            return Ok(out);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::process::{Command, Stdio};

    type Entry = NewcEntry;

    pub(crate) fn parse_newc(buf: &[u8]) -> Vec<Entry> {
        read_newc(buf).unwrap()
    }

    /// A staging tree with directories, files of several sizes (padding), an executable, an
    /// empty file and a symlink.
    pub(crate) fn sample_tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        fs::create_dir_all(r.join("etc/deep/er")).unwrap();
        fs::create_dir_all(r.join("bin")).unwrap();
        fs::create_dir(r.join("empty")).unwrap();
        fs::write(r.join("init"), b"#!/bin/sh\nexec sh\n").unwrap();
        fs::set_permissions(r.join("init"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(r.join("etc/hello"), b"hello").unwrap();
        fs::write(r.join("etc/four"), b"1234").unwrap();
        fs::write(r.join("etc/empty-file"), b"").unwrap();
        fs::write(r.join("etc/deep/er/big"), vec![7u8; 70_001]).unwrap();
        fs::set_permissions(r.join("etc/hello"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("../init", r.join("bin/sh")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/abs", r.join("bin/abs")).unwrap();
        t
    }

    fn sample_cpio(root: &Path, mtime: u32) -> Vec<u8> {
        let mut w = CpioWriter::with_mtime(Vec::new(), mtime);
        w.add_tree(root, "").unwrap();
        w.add_dir("dev", 0o755).unwrap();
        w.add_char_device("dev/console", 0o600, 5, 1).unwrap();
        w.add_file("dev/x", 0o600, b"abc").unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn headers_are_byte_exact() {
        let mut w = CpioWriter::new(Vec::new());
        w.add_dir("d", 0o755).unwrap();
        w.add_file("d/f", 0o644, b"hello").unwrap();
        w.add_symlink("d/l", "f").unwrap();
        w.add_char_device("d/c", 0o600, 5, 1).unwrap();
        let buf = w.finish().unwrap();
        // The first header, spelled out.
        let expect = concat!(
            "070701", "00000001", "000041ed", "00000000", "00000000", "00000002", "00000000",
            "00000000", "00000000", "00000000", "00000000", "00000000", "00000002", "00000000",
            "d\0"
        );
        assert_eq!(&buf[..112], expect.as_bytes());
        assert_eq!(&buf[112..112], b""); // 112 is already aligned
        let es = parse_newc(&buf);
        let names: Vec<&str> = es.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["d", "d/f", "d/l", "d/c", TRAILER]);
        assert_eq!(
            es.iter().map(|e| e.ino).collect::<Vec<_>>(),
            [1, 2, 3, 4, 0]
        );
        assert_eq!(es[0].mode, 0o040755);
        assert_eq!(es[0].nlink, 2);
        assert_eq!(
            (es[1].mode, es[1].nlink, &es[1].data[..]),
            (0o100644, 1, &b"hello"[..])
        );
        assert_eq!((es[2].mode, &es[2].data[..]), (0o120777, &b"f"[..]));
        assert_eq!(
            (
                es[3].mode,
                es[3].rdevmajor,
                es[3].rdevminor,
                es[3].data.len()
            ),
            (0o020600, 5, 1, 0)
        );
        for e in &es {
            assert_eq!((e.uid, e.gid, e.mtime, e.check), (0, 0, 0, 0));
            assert_eq!((e.devmajor, e.devminor), (0, 0));
        }
        let t = es.last().unwrap();
        assert_eq!((t.mode, t.nlink, t.data.len()), (0, 1, 0));
        // Header (110) + "d/f\0" (4) = 114 → padded to 116, data 5 → padded to 8.
        let f_start = 112;
        assert_eq!(&buf[f_start + 110..f_start + 116], b"d/f\0\0\0");
        assert_eq!(&buf[f_start + 116..f_start + 124], b"hello\0\0\0");
    }

    #[test]
    fn tree_is_sorted_parents_first_and_reproducible() {
        let t = sample_tree();
        let a = sample_cpio(t.path(), 0);
        let b = sample_cpio(t.path(), 0);
        assert_eq!(a, b, "two builds differ");
        let es = parse_newc(&a);
        let names: Vec<&str> = es.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/abs",
                "bin/sh",
                "empty",
                "etc",
                "etc/deep",
                "etc/deep/er",
                "etc/deep/er/big",
                "etc/empty-file",
                "etc/four",
                "etc/hello",
                "init",
                "dev",
                "dev/console",
                "dev/x",
                TRAILER
            ]
        );
        let by: HashMap<&str, &Entry> = es.iter().map(|e| (e.name.as_str(), e)).collect();
        assert_eq!(by["init"].mode, 0o100755);
        assert_eq!(by["etc/hello"].mode, 0o100640);
        assert_eq!(by["etc/deep/er/big"].data.len(), 70_001);
        assert_eq!(by["bin/sh"].data, b"../init");
        // A SOURCE_DATE_EPOCH-style mtime lands in every entry but the trailer.
        let c = parse_newc(&sample_cpio(t.path(), 1_700_000_000));
        assert!(c[..c.len() - 1].iter().all(|e| e.mtime == 1_700_000_000));
        assert_eq!(c.last().unwrap().mtime, 0);
        // Under a prefix, with its ancestors created.
        let mut w = CpioWriter::new(Vec::new());
        w.add_tree(&t.path().join("etc"), "usr/share/x").unwrap();
        let es = parse_newc(&w.finish().unwrap());
        assert_eq!(es[0].name, "usr");
        assert_eq!(es[2].name, "usr/share/x");
        assert_eq!(es[3].name, "usr/share/x/deep");
    }

    #[test]
    fn busybox_extracts_it() {
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "/bin/busybox is missing (Debian's busybox-static)"
        );
        let t = sample_tree();
        let archive = sample_cpio(t.path(), 0);
        let out = tempfile::tempdir().unwrap();
        let mut child = Command::new(busybox)
            .args(["cpio", "-i", "-d"])
            .current_dir(out.path())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&archive).unwrap();
        let res = child.wait_with_output().unwrap();
        let root = rustix::process::geteuid().is_root();
        assert!(
            res.status.success() || !root,
            "busybox cpio failed: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        let o = out.path();
        for (file, data, mode) in [
            ("init", &b"#!/bin/sh\nexec sh\n"[..], 0o755),
            ("etc/hello", b"hello", 0o640),
            ("etc/four", b"1234", 0o644),
            ("etc/empty-file", b"", 0o644),
            ("dev/x", b"abc", 0o600),
        ] {
            assert_eq!(fs::read(o.join(file)).unwrap(), data, "{file}");
            let m = fs::metadata(o.join(file)).unwrap().permissions().mode() & 0o7777;
            assert_eq!(m, mode, "{file}");
        }
        assert_eq!(
            fs::read(o.join("etc/deep/er/big")).unwrap(),
            fs::read(t.path().join("etc/deep/er/big")).unwrap()
        );
        assert!(o.join("empty").is_dir());
        assert_eq!(
            fs::read_link(o.join("bin/sh")).unwrap(),
            Path::new("../init")
        );
        assert_eq!(
            fs::read_link(o.join("bin/abs")).unwrap(),
            Path::new("/nonexistent/abs")
        );
        match fs::symlink_metadata(o.join("dev/console")) {
            Ok(m) => {
                assert!(m.file_type().is_char_device());
                assert_eq!(m.permissions().mode() & 0o7777, 0o600);
                let rdev = m.rdev();
                assert_eq!((libc::major(rdev), libc::minor(rdev)), (5, 1));
            }
            Err(e) if !root => eprintln!("not root: dev/console not created ({e})"),
            Err(e) => panic!("dev/console: {e}"),
        }
        // And busybox's listing sees the device node.
        let mut child = Command::new(busybox)
            .args(["cpio", "-t", "-v"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&archive).unwrap();
        let list = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
        let console = list.lines().find(|l| l.ends_with(" dev/console")).unwrap();
        assert!(console.starts_with("crw-------"), "{console}");
    }

    #[test]
    fn names_are_validated() {
        let mut w = CpioWriter::new(Vec::new());
        assert!(matches!(w.add_dir("", 0o755), Err(CpioError::EmptyName(_))));
        assert!(matches!(
            w.add_dir("/abs", 0o755),
            Err(CpioError::AbsoluteName(_))
        ));
        assert!(matches!(
            w.add_dir("a/../b", 0o755),
            Err(CpioError::DotDotInName(_))
        ));
        assert!(matches!(
            w.add_dir("..", 0o755),
            Err(CpioError::DotDotInName(_))
        ));
        assert!(matches!(
            w.add_file(TRAILER, 0o644, b""),
            Err(CpioError::ReservedName(_))
        ));
        assert!(matches!(
            w.add_dir("a\0b", 0o755),
            Err(CpioError::NulInName(_))
        ));
        assert!(matches!(
            w.add_dir("a//b", 0o755),
            Err(CpioError::NonCanonicalName(_))
        ));
        assert!(matches!(
            w.add_dir("a/", 0o755),
            Err(CpioError::NonCanonicalName(_))
        ));
        assert!(matches!(
            w.add_dir("./a", 0o755),
            Err(CpioError::NonCanonicalName(_))
        ));
        assert!(matches!(
            w.add_dir(&"x".repeat(5000), 0o755),
            Err(CpioError::NameTooLong { .. })
        ));
        assert!(matches!(
            w.add_file("a/b", 0o644, b""),
            Err(CpioError::MissingParent { .. })
        ));
        assert!(matches!(
            w.add_file("a", 0o100644, b""),
            Err(CpioError::BadMode { .. })
        ));
        w.add_file("a", 0o644, b"").unwrap();
        assert!(matches!(
            w.add_file("a", 0o644, b""),
            Err(CpioError::Duplicate(_))
        ));
        assert!(matches!(
            w.add_symlink("a/b", "x"),
            Err(CpioError::ParentNotDirectory { .. })
        ));
        assert!(matches!(
            w.add_symlink("l", ""),
            Err(CpioError::BadSymlinkTarget { .. })
        ));
        w.add_dir_all("x/y/z").unwrap();
        w.add_dir_all("x/y").unwrap();
        assert!(matches!(
            w.add_dir_all("a/q"),
            Err(CpioError::ParentNotDirectory { .. })
        ));
        // The error text is clear.
        let e = w.add_dir("/etc", 0o755).unwrap_err().to_string();
        assert!(e.contains("\"/etc\"") && e.contains("absolute"), "{e}");
        let es = parse_newc(&w.finish().unwrap());
        let names: Vec<&str> = es.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "x", "x/y", "x/y/z", TRAILER]);
    }
}
