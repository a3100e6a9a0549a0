//! The initrd: a cpio "newc" archive, compressed, holding strata's init and exactly the kernel
//! modules needed to mount the root file system.
//!
//! Three parts:
//!
//! - [`CpioWriter`] writes the newc format the kernel unpacks into its initramfs (the kernel's
//!   `Documentation/driver-api/early-userspace/buffer-format.rst`, cpio(5)). Output is
//!   deterministic: owner 0:0, one fixed modification time (0, or `SOURCE_DATE_EPOCH` through
//!   [`source_date_epoch`]), inode numbers assigned 1, 2, 3… in the order entries are added,
//!   `nlink` 1 (2 for directories), device fields 0 except a device node's `rdev`. Every name is
//!   checked (relative, no `.`/`..`/empty components, no NUL, shorter than `PATH_MAX`), must be
//!   unique, and its parent directory must have been added before it, so the kernel never has
//!   to invent a directory. [`CpioWriter::add_tree`] adds a directory tree in sorted order.
//! - [`Compression`]: gzip (flate2, fixed header: no file name, mtime 0, OS "unknown") or
//!   zstd (ruzstd's pure-Rust encoder at its "fastest" level, roughly zstd -1; compressed in
//!   memory, since that encoder cannot report I/O errors). Debian's kernels accept both
//!   (`CONFIG_RD_GZIP`, `CONFIG_RD_ZSTD`); gzip is the default.
//! - [`ModulesDir`]: a kernel's `lib/modules/<version>/` directory. [`ModulesDir::closure`]
//!   turns wanted module names into the module files to load, dependencies first, following
//!   `modules.dep`; when the tree has no `modules.dep` (Debian's packages ship none: depmod
//!   writes it at install time) the dependencies are read from each module's `.modinfo`
//!   section (`depends=`, the list modpost computed), decompressing `.ko.xz` / `.ko.zst` as
//!   needed. [`ModulesDir::stage`] copies the closure and a matching `modules.dep`,
//!   `modules.order` and `modules.builtin` into a staging tree.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// cpio newc

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

fn io_err(context: impl fmt::Display) -> impl FnOnce(io::Error) -> CpioError {
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

// ---------------------------------------------------------------------------------------------
// compression and the whole initrd

/// How the cpio archive is compressed.
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
            // slice and a Vec, neither of which fails.
            Compression::Zstd => Ok(ruzstd::encoding::compress_to_vec(
                data,
                ruzstd::encoding::CompressionLevel::Fastest,
            )),
        }
    }
}

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
        .map_err(io_err("compress the initrd"))
}

// ---------------------------------------------------------------------------------------------
// reading an initrd back

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

/// Undoes [`Compression`]: gzip and zstd are recognised by their magic numbers, anything else
/// is returned as it is.
pub fn decompress(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    if data.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(data).read_to_end(&mut out)?;
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ruzstd::decoding::StreamingDecoder::new(data)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
            .read_to_end(&mut out)?;
    } else {
        out.extend_from_slice(data);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// kernel modules

/// What is wrong with a kernel modules directory or a request for modules.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Parse {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{dir}: unknown kernel module(s), neither a module file nor built in: {}", names.join(", "))]
    Unknown { dir: PathBuf, names: Vec<String> },
    #[error("kernel module dependency cycle: {}", chain.join(" -> "))]
    Cycle { chain: Vec<String> },
    #[error("module {module}: it depends on {dependency:?}, which is no module in {dir}")]
    MissingDependency {
        dir: PathBuf,
        module: String,
        dependency: String,
    },
    #[error("read the .modinfo section of {path}: {message}")]
    Modinfo { path: PathBuf, message: String },
    #[error("{0}: the modules directory's name is not a kernel version")]
    BadDir(PathBuf),
}

fn mod_io(context: impl fmt::Display) -> impl FnOnce(io::Error) -> ModuleError {
    move |source| ModuleError::Io {
        context: context.to_string(),
        source,
    }
}

/// The extensions of module files, as Debian ships them (and gzip, which kmod also reads).
const MODULE_EXTENSIONS: [&str; 4] = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"];

/// The module name of a module file path: its file name without the extension, dashes turned
/// into underscores (as the kernel and modprobe treat them). `None` for a non-module file.
pub fn module_name_of_path(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let stem = MODULE_EXTENSIONS
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    (!stem.is_empty()).then(|| normalize_module_name(stem))
}

/// A module name as the kernel knows it: dashes are underscores.
pub fn normalize_module_name(name: &str) -> String {
    name.replace('-', "_")
}

/// Where a module's dependencies come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DepSource {
    /// `modules.dep`: path → dependency paths, as written there.
    ModulesDep(BTreeMap<String, Vec<String>>),
    /// Each module's `.modinfo` `depends=` field, read when needed.
    Modinfo,
}

/// A kernel's `lib/modules/<version>/` directory.
#[derive(Debug)]
pub struct ModulesDir {
    root: PathBuf,
    version: String,
    /// Module name → path relative to `root`.
    by_name: BTreeMap<String, String>,
    builtin: BTreeSet<String>,
    deps: DepSource,
    /// Alias → module names, read on first need from the modules that provide the aliases
    /// soft dependencies name (see [`ModulesDir::closure`]).
    aliases: std::cell::OnceCell<BTreeMap<String, Vec<String>>>,
}

/// One module file of a closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// The module's name (underscores).
    pub name: String,
    /// Its path relative to the modules directory, e.g. `kernel/fs/ext4/ext4.ko`.
    pub path: String,
    /// The names of the modules it depends on: as `modules.dep` lists them (depmod lists the
    /// transitive dependencies), or the direct ones from `.modinfo`.
    pub depends: Vec<String>,
}

/// The modules needed for a set of wanted modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleClosure {
    /// Module files in load order: every module after all of its dependencies.
    pub modules: Vec<Module>,
    /// Wanted names that are built into the kernel (no file needed), sorted.
    pub builtin: Vec<String>,
}

impl ModulesDir {
    /// Opens `root` (`.../lib/modules/<version>`): reads `modules.dep` when present (strictly;
    /// errors name the line), else indexes the module files to read their `.modinfo` later;
    /// reads `modules.builtin` when present.
    pub fn open(root: &Path) -> Result<Self, ModuleError> {
        let version = root
            .file_name()
            .and_then(|v| v.to_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ModuleError::BadDir(root.to_owned()))?
            .to_owned();
        let dep_file = root.join("modules.dep");
        let (by_name, deps) = match fs::read_to_string(&dep_file) {
            Ok(text) => {
                let map = parse_modules_dep(&text, &dep_file)?;
                let mut by_name = BTreeMap::new();
                for path in map.keys() {
                    if let Some(name) = module_name_of_path(path) {
                        // depmod lists one file per name; keep the first if not.
                        by_name.entry(name).or_insert_with(|| path.clone());
                    }
                }
                (by_name, DepSource::ModulesDep(map))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut files = Vec::new();
                scan_modules(root, "", &mut files)?;
                files.sort();
                let mut by_name = BTreeMap::new();
                for path in files {
                    if let Some(name) = module_name_of_path(&path) {
                        by_name.entry(name).or_insert(path);
                    }
                }
                (by_name, DepSource::Modinfo)
            }
            Err(e) => return Err(mod_io(format_args!("read {}", dep_file.display()))(e)),
        };
        let builtin_file = root.join("modules.builtin");
        let builtin = match fs::read_to_string(&builtin_file) {
            Ok(text) => text.lines().filter_map(module_name_of_path).collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(mod_io(format_args!("read {}", builtin_file.display()))(e)),
        };
        Ok(ModulesDir {
            root: root.to_owned(),
            version,
            by_name,
            builtin,
            deps,
            aliases: std::cell::OnceCell::new(),
        })
    }

    /// The kernel version: the directory's name.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether dependencies come from `modules.dep` (else from `.modinfo`).
    pub fn has_modules_dep(&self) -> bool {
        matches!(self.deps, DepSource::ModulesDep(_))
    }

    /// The direct dependencies of the module at `path`, as module names.
    fn depends(&self, name: &str, path: &str) -> Result<Vec<String>, ModuleError> {
        let names = match &self.deps {
            DepSource::ModulesDep(map) => map
                .get(path)
                .map(|deps| {
                    deps.iter()
                        .filter_map(|d| module_name_of_path(d))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
            DepSource::Modinfo => {
                let full = self.root.join(path);
                let info = read_modinfo(&full)?;
                let mut names: Vec<String> = info
                    .iter()
                    .filter_map(|kv| kv.strip_prefix("depends="))
                    .flat_map(|v| v.split(','))
                    .filter(|d| !d.is_empty())
                    .map(normalize_module_name)
                    .collect();
                for soft in info.iter().filter_map(|kv| kv.strip_prefix("softdep=")) {
                    for dep in parse_softdep(soft) {
                        names.extend(self.resolve_soft(&dep)?);
                    }
                }
                names
            }
        };
        for dep in &names {
            if !self.by_name.contains_key(dep) {
                return Err(ModuleError::MissingDependency {
                    dir: self.root.clone(),
                    module: name.to_owned(),
                    dependency: dep.clone(),
                });
            }
        }
        Ok(names)
    }

    /// The module files a soft dependency (`softdep=pre: crc32c`) names: the module of that
    /// name, or else every module with that alias (`crc32c` is `crc32c_generic` and
    /// `crc32c_intel`); nothing when it is built in or unknown (modprobe ignores those too).
    /// Soft dependencies are crypto algorithms and library routines, so aliases are read
    /// from the modules under `crypto/` and `lib/` directories only, once.
    fn resolve_soft(&self, dep: &str) -> Result<Vec<String>, ModuleError> {
        let name = normalize_module_name(dep);
        if self.by_name.contains_key(&name) {
            return Ok(vec![name]);
        }
        if self.builtin.contains(&name) {
            return Ok(Vec::new());
        }
        if self.aliases.get().is_none() {
            let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (module, path) in &self.by_name {
                if !(path.contains("/crypto/") || path.contains("/lib/")) {
                    continue;
                }
                for kv in read_modinfo(&self.root.join(path))? {
                    if let Some(alias) = kv.strip_prefix("alias=") {
                        map.entry(alias.to_owned())
                            .or_default()
                            .push(module.clone());
                    }
                }
            }
            let _ = self.aliases.set(map);
        }
        Ok(self
            .aliases
            .get()
            .and_then(|m| m.get(dep))
            .cloned()
            .unwrap_or_default())
    }

    /// The closure of `wanted` (dashes and underscores alike): module files in load order,
    /// dependencies first. Deterministic: wanted names are visited in the given order,
    /// dependencies in the order `modules.dep` lists them read backwards (modprobe loads that
    /// list from its end), or as `.modinfo` lists them. Built-in names need no file; names
    /// that are neither are reported together.
    pub fn closure<S: AsRef<str>>(&self, wanted: &[S]) -> Result<ModuleClosure, ModuleError> {
        let mut unknown = Vec::new();
        let mut roots = Vec::new();
        let mut builtin = BTreeSet::new();
        for w in wanted {
            let name = normalize_module_name(w.as_ref());
            if self.by_name.contains_key(&name) {
                roots.push(name);
            } else if self.builtin.contains(&name) {
                builtin.insert(name);
            } else {
                unknown.push(w.as_ref().to_owned());
            }
        }
        if !unknown.is_empty() {
            return Err(ModuleError::Unknown {
                dir: self.root.clone(),
                names: unknown,
            });
        }

        #[derive(PartialEq)]
        enum State {
            Visiting,
            Done,
        }
        let mut state: HashMap<String, State> = HashMap::new();
        let mut out = Vec::new();
        // Iterative depth-first search: (name, its dependencies, the next one to visit).
        for root in roots {
            if state.contains_key(&root) {
                continue;
            }
            let mut stack: Vec<(String, String, Vec<String>, usize)> = Vec::new();
            let path = self.by_name[&root].clone();
            let deps = self.ordered_deps(&root, &path)?;
            state.insert(root.clone(), State::Visiting);
            stack.push((root, path, deps, 0));
            while let Some((name, path, deps, next)) = stack.last_mut() {
                if let Some(dep) = deps.get(*next).cloned() {
                    *next += 1;
                    match state.get(&dep) {
                        Some(State::Done) => {}
                        Some(State::Visiting) => {
                            let from = stack.iter().position(|f| f.0 == dep).unwrap_or(0);
                            let mut chain: Vec<String> =
                                stack[from..].iter().map(|f| f.0.clone()).collect();
                            chain.push(dep);
                            return Err(ModuleError::Cycle { chain });
                        }
                        None => {
                            let dep_path = self.by_name[&dep].clone();
                            let dep_deps = self.ordered_deps(&dep, &dep_path)?;
                            state.insert(dep.clone(), State::Visiting);
                            stack.push((dep, dep_path, dep_deps, 0));
                        }
                    }
                } else {
                    let (name, path) = (name.clone(), path.clone());
                    let mut depends = deps.clone();
                    if self.has_modules_dep() {
                        depends.reverse();
                    }
                    stack.pop();
                    state.insert(name.clone(), State::Done);
                    out.push(Module {
                        name,
                        path,
                        depends,
                    });
                }
            }
        }
        Ok(ModuleClosure {
            modules: out,
            builtin: builtin.into_iter().collect(),
        })
    }

    /// Dependencies in visiting order.
    fn ordered_deps(&self, name: &str, path: &str) -> Result<Vec<String>, ModuleError> {
        let mut deps = self.depends(name, path)?;
        if self.has_modules_dep() {
            deps.reverse();
        }
        let mut seen = BTreeSet::new();
        deps.retain(|d| seen.insert(d.clone()));
        Ok(deps)
    }

    /// Copies the closure's module files to `dest/lib/modules/<version>/` (same relative
    /// paths, mode 0644), with a `modules.dep` for exactly those modules (the original lines
    /// when there was one; otherwise written from `.modinfo` as depmod would, each module's
    /// transitive dependencies listed last-to-load first), `modules.order` filtered to them
    /// when present, and `modules.builtin` when present. Returns the directory written.
    pub fn stage(&self, closure: &ModuleClosure, dest: &Path) -> Result<PathBuf, ModuleError> {
        let out = dest.join("lib/modules").join(&self.version);
        fs::create_dir_all(&out).map_err(mod_io(format_args!("create {}", out.display())))?;
        let mut dep_text = String::new();
        let index: HashMap<&str, &Module> = closure
            .modules
            .iter()
            .map(|m| (m.name.as_str(), m))
            .collect();
        for m in &closure.modules {
            let src = self.root.join(&m.path);
            let dst = out.join(&m.path);
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent)
                    .map_err(mod_io(format_args!("create {}", parent.display())))?;
            }
            fs::copy(&src, &dst).map_err(mod_io(format_args!(
                "copy {} to {}",
                src.display(),
                dst.display()
            )))?;
            fs::set_permissions(&dst, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .map_err(mod_io(format_args!("chmod {}", dst.display())))?;
            // The transitive dependencies in load order, from the closure (already sorted).
            let mut trans = Vec::new();
            let mut seen = BTreeSet::new();
            let mut todo: Vec<&str> = m.depends.iter().map(String::as_str).collect();
            while let Some(d) = todo.pop() {
                if seen.insert(d) {
                    if let Some(dm) = index.get(d) {
                        todo.extend(dm.depends.iter().map(String::as_str));
                    }
                }
            }
            for c in &closure.modules {
                if seen.contains(c.name.as_str()) {
                    trans.push(c.path.as_str());
                }
            }
            match &self.deps {
                DepSource::ModulesDep(map) => {
                    let deps = map.get(&m.path).map(Vec::as_slice).unwrap_or_default();
                    dep_text.push_str(&m.path);
                    dep_text.push(':');
                    for d in deps {
                        dep_text.push(' ');
                        dep_text.push_str(d);
                    }
                }
                DepSource::Modinfo => {
                    dep_text.push_str(&m.path);
                    dep_text.push(':');
                    for d in trans.iter().rev() {
                        dep_text.push(' ');
                        dep_text.push_str(d);
                    }
                }
            }
            dep_text.push('\n');
        }
        write_file(&out.join("modules.dep"), dep_text.as_bytes())?;

        let order_file = self.root.join("modules.order");
        match fs::read_to_string(&order_file) {
            Ok(text) => {
                let names: BTreeSet<&str> = index.keys().copied().collect();
                let mut kept = String::new();
                for line in text.lines() {
                    if module_name_of_path(line).is_some_and(|n| names.contains(n.as_str())) {
                        kept.push_str(line);
                        kept.push('\n');
                    }
                }
                write_file(&out.join("modules.order"), kept.as_bytes())?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(mod_io(format_args!("read {}", order_file.display()))(e)),
        }
        let builtin_file = self.root.join("modules.builtin");
        if builtin_file.exists() {
            let dst = out.join("modules.builtin");
            fs::copy(&builtin_file, &dst).map_err(mod_io(format_args!(
                "copy {} to {}",
                builtin_file.display(),
                dst.display()
            )))?;
        }
        Ok(out)
    }
}

fn write_file(path: &Path, data: &[u8]) -> Result<(), ModuleError> {
    fs::write(path, data).map_err(mod_io(format_args!("write {}", path.display())))
}

/// Checks a module path from `modules.dep`: relative, no `..`, a module file name.
fn check_module_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') {
        return Err(format!("module path {path:?} is absolute"));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!("module path {path:?} is not canonical"));
    }
    if module_name_of_path(path).is_none() {
        return Err(format!(
            "{path:?} is not a module file (.ko, .ko.xz, .ko.zst or .ko.gz)"
        ));
    }
    Ok(())
}

/// Parses `modules.dep`: one line per module, `path: dep dep ...`. Strict: every path must be
/// a relative module file, listed once, and every dependency must have its own line.
pub fn parse_modules_dep(
    text: &str,
    file: &Path,
) -> Result<BTreeMap<String, Vec<String>>, ModuleError> {
    let err = |line: usize, message: String| ModuleError::Parse {
        file: file.to_owned(),
        line,
        message,
    };
    let mut map = BTreeMap::new();
    let mut line_of = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        let Some((path, deps)) = line.split_once(':') else {
            return Err(err(
                n,
                format!("expected \"module: deps...\", found {line:?}"),
            ));
        };
        check_module_path(path).map_err(|m| err(n, m))?;
        if !deps.is_empty() && !deps.starts_with(' ') {
            return Err(err(
                n,
                format!("expected a space after the colon in {line:?}"),
            ));
        }
        let deps: Vec<String> = deps.split_whitespace().map(str::to_owned).collect();
        for d in &deps {
            check_module_path(d).map_err(|m| err(n, m))?;
            if d == path {
                return Err(err(n, format!("{path} depends on itself")));
            }
        }
        if let Some(first) = line_of.insert(path.to_owned(), n) {
            return Err(err(
                n,
                format!("{path} is listed again (first on line {first})"),
            ));
        }
        map.insert(path.to_owned(), deps);
    }
    for (path, deps) in &map {
        for d in deps {
            if !map.contains_key(d) {
                return Err(err(
                    line_of[path],
                    format!("{path} depends on {d}, which has no line of its own"),
                ));
            }
        }
    }
    Ok(map)
}

/// Collects module files below `dir` (relative paths), without following symlinks (the
/// `build` and `source` links point outside).
fn scan_modules(root: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), ModuleError> {
    let dir = if rel.is_empty() {
        root.to_owned()
    } else {
        root.join(rel)
    };
    let ctx = || format!("list {}", dir.display());
    for entry in fs::read_dir(&dir).map_err(mod_io(ctx()))? {
        let entry = entry.map_err(mod_io(ctx()))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let rel_child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = entry.file_type().map_err(mod_io(ctx()))?;
        if ft.is_dir() {
            scan_modules(root, &rel_child, out)?;
        } else if ft.is_file() && module_name_of_path(&rel_child).is_some() {
            out.push(rel_child);
        }
    }
    Ok(())
}

/// The module names of a `softdep=` value (`pre: a b post: c`): both lists, as modprobe loads
/// `pre` modules before and `post` modules after the module; the initrd loads them all first.
pub fn parse_softdep(value: &str) -> Vec<String> {
    value
        .split_whitespace()
        .filter(|w| *w != "pre:" && *w != "post:")
        .map(str::to_owned)
        .collect()
}

/// The largest module file read (decompressed) for its `.modinfo`.
const MAX_MODULE_SIZE: u64 = 256 << 20;

/// Reads the `key=value` strings of a module file's `.modinfo` ELF section.
pub fn read_modinfo(path: &Path) -> Result<Vec<String>, ModuleError> {
    let bad = |message: String| ModuleError::Modinfo {
        path: path.to_owned(),
        message,
    };
    let file = File::open(path).map_err(mod_io(format_args!("read {}", path.display())))?;
    let name = path.to_string_lossy();
    let reader: Box<dyn Read> = if name.ends_with(".xz") {
        Box::new(lzma_rust2::XzReader::new(io::BufReader::new(file), true))
    } else if name.ends_with(".zst") {
        Box::new(
            ruzstd::decoding::StreamingDecoder::new(io::BufReader::new(file))
                .map_err(|e| bad(format!("zstd: {e}")))?,
        )
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut data = Vec::new();
    reader
        .take(MAX_MODULE_SIZE)
        .read_to_end(&mut data)
        .map_err(|e| bad(format!("decompress: {e}")))?;
    let section = elf_section(&data, ".modinfo").map_err(bad)?;
    Ok(section
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

/// The contents of the section called `want` of an ELF file (32 or 64 bits, either byte
/// order), every offset bounds-checked.
fn elf_section<'a>(data: &'a [u8], want: &str) -> Result<&'a [u8], String> {
    if data.len() < 52 || &data[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let is64 = match data[4] {
        1 => false,
        2 => true,
        c => return Err(format!("unknown ELF class {c}")),
    };
    let le = match data[5] {
        1 => true,
        2 => false,
        d => return Err(format!("unknown ELF data encoding {d}")),
    };
    let get = |off: usize, len: usize| -> Result<u64, String> {
        let b = off
            .checked_add(len)
            .and_then(|end| data.get(off..end))
            .ok_or_else(|| format!("truncated at byte {off}"))?;
        let mut v = 0u64;
        for i in 0..len {
            let byte = if le { b[len - 1 - i] } else { b[i] };
            v = v << 8 | u64::from(byte);
        }
        Ok(v)
    };
    let (shoff, shentsize, shnum, shstrndx) = if is64 {
        (get(0x28, 8)?, get(0x3A, 2)?, get(0x3C, 2)?, get(0x3E, 2)?)
    } else {
        (get(0x20, 4)?, get(0x2E, 2)?, get(0x30, 2)?, get(0x32, 2)?)
    };
    let min_ent = if is64 { 0x40 } else { 0x28 };
    if shentsize < min_ent {
        return Err(format!("section header size {shentsize} is too small"));
    }
    let section = |i: u64| -> Result<(u64, &'a [u8]), String> {
        let base = i
            .checked_mul(shentsize)
            .and_then(|o| o.checked_add(shoff))
            .and_then(|o| usize::try_from(o).ok())
            .ok_or_else(|| format!("section header {i} lies outside the file"))?;
        let (name, off, size) = if is64 {
            (get(base, 4)?, get(base + 0x18, 8)?, get(base + 0x20, 8)?)
        } else {
            (get(base, 4)?, get(base + 0x10, 4)?, get(base + 0x14, 4)?)
        };
        let start = usize::try_from(off).map_err(|e| e.to_string())?;
        let end = usize::try_from(off.saturating_add(size)).map_err(|e| e.to_string())?;
        let body = data
            .get(start..end)
            .ok_or_else(|| format!("section {i} lies outside the file"))?;
        Ok((name, body))
    };
    if shstrndx >= shnum {
        return Err(format!(
            "section name table index {shstrndx} is not below {shnum}"
        ));
    }
    let (_, strtab) = section(shstrndx)?;
    for i in 0..shnum {
        let (name_off, body) = section(i)?;
        let name = strtab
            .get(usize::try_from(name_off).map_err(|e| e.to_string())?..)
            .and_then(|s| s.split(|&b| b == 0).next());
        if name == Some(want.as_bytes()) {
            return Ok(body);
        }
    }
    Err(format!("no {want} section"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::process::{Command, Stdio};

    type Entry = NewcEntry;

    fn parse_newc(buf: &[u8]) -> Vec<Entry> {
        read_newc(buf).unwrap()
    }

    /// A staging tree with directories, files of several sizes (padding), an executable, an
    /// empty file and a symlink.
    fn sample_tree() -> tempfile::TempDir {
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

    // ---- kernel modules ---------------------------------------------------------------------

    fn write(root: &Path, rel: &str, data: &[u8]) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }

    const DEP: &str = "\
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko: kernel/lib/crc16.ko
kernel/lib/crc16.ko:
kernel/drivers/block/virtio_blk.ko:
kernel/drivers/virtio/virtio-pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/scsi/sd_mod.ko.xz: kernel/drivers/scsi/scsi_common.ko.zst
kernel/drivers/scsi/scsi_common.ko.zst:
kernel/unused/foo.ko:
";

    fn synthetic_modules() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("lib/modules/6.1.0-test");
        write(&root, "modules.dep", DEP.as_bytes());
        for line in DEP.lines() {
            let path = line.split(':').next().unwrap();
            write(&root, path, path.as_bytes());
        }
        write(
            &root,
            "modules.builtin",
            b"kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\nkernel/crypto/crc32c_generic.ko\n",
        );
        let order: String = DEP
            .lines()
            .rev()
            .map(|l| l.split(':').next().unwrap().to_owned() + "\n")
            .collect();
        write(&root, "modules.order", order.as_bytes());
        (t, root)
    }

    fn names(c: &ModuleClosure) -> Vec<&str> {
        c.modules.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn closure_follows_modules_dep() {
        let (_t, root) = synthetic_modules();
        let dir = ModulesDir::open(&root).unwrap();
        assert_eq!(dir.version(), "6.1.0-test");
        assert!(dir.has_modules_dep());
        let c = dir
            .closure(&[
                "virtio_blk",
                "ext4",
                "virtio_pci",
                "sd-mod",
                "virtio",
                "crc32c-generic",
            ])
            .unwrap();
        assert_eq!(
            names(&c),
            [
                "virtio_blk",
                "crc16",
                "jbd2",
                "mbcache",
                "ext4",
                "virtio_pci_modern_dev",
                "virtio_pci",
                "scsi_common",
                "sd_mod"
            ]
        );
        assert_eq!(c.builtin, ["crc32c_generic", "virtio"]);
        let sd = c.modules.iter().find(|m| m.name == "sd_mod").unwrap();
        assert_eq!(sd.path, "kernel/drivers/scsi/sd_mod.ko.xz");
        assert_eq!(
            c.modules
                .iter()
                .find(|m| m.name == "virtio_pci")
                .unwrap()
                .path,
            "kernel/drivers/virtio/virtio-pci.ko"
        );
        // Every module comes after its dependencies; the result is deterministic.
        for (i, m) in c.modules.iter().enumerate() {
            for d in &m.depends {
                assert!(
                    names(&c)[..i].contains(&d.as_str()),
                    "{} before {d}",
                    m.name
                );
            }
        }
        assert_eq!(
            c,
            dir.closure(&[
                "virtio_blk",
                "ext4",
                "virtio_pci",
                "sd-mod",
                "virtio",
                "crc32c-generic"
            ])
            .unwrap()
        );
        // Duplicates and dash spellings collapse.
        let c2 = dir
            .closure(&["jbd2", "ext4", "ext4", "virtio-blk", "virtio_blk"])
            .unwrap();
        assert_eq!(
            names(&c2),
            ["crc16", "jbd2", "mbcache", "ext4", "virtio_blk"]
        );
    }

    #[test]
    fn unknown_modules_are_listed() {
        let (_t, root) = synthetic_modules();
        let dir = ModulesDir::open(&root).unwrap();
        let e = dir.closure(&["ext4", "nope", "also-nope"]).unwrap_err();
        match &e {
            ModuleError::Unknown { names, .. } => assert_eq!(names, &["nope", "also-nope"]),
            other => panic!("{other}"),
        }
        let text = e.to_string();
        assert!(text.contains("nope, also-nope"), "{text}");
    }

    #[test]
    fn cycles_are_errors() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("6.1");
        write(
            &root,
            "modules.dep",
            b"a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\nd.ko: a.ko\n",
        );
        let dir = ModulesDir::open(&root).unwrap();
        match dir.closure(&["d"]).unwrap_err() {
            ModuleError::Cycle { chain } => {
                assert_eq!(chain.first(), chain.last());
                assert_eq!(chain.len(), 4, "{chain:?}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn modules_dep_is_parsed_strictly() {
        let f = Path::new("modules.dep");
        let cases: [(&str, usize, &str); 7] = [
            ("a.ko:\nb.ko b.ko\n", 2, "expected"),
            ("a.ko:\n/abs/b.ko:\n", 2, "absolute"),
            ("a.ko:\nb.ko: ../c.ko\n", 2, "canonical"),
            ("a.ko:\nb.txt:\n", 2, "not a module file"),
            ("a.ko:\nb.ko:\na.ko:\n", 3, "listed again (first on line 1)"),
            ("a.ko:\n\nb.ko: c.ko\n", 3, "no line of its own"),
            ("a.ko: a.ko\n", 1, "itself"),
        ];
        for (text, line, msg) in cases {
            let e = parse_modules_dep(text, f).unwrap_err();
            let s = e.to_string();
            assert!(
                s.starts_with(&format!("modules.dep:{line}: ")) && s.contains(msg),
                "{text:?}: {s}"
            );
        }
        let ok = parse_modules_dep("a.ko: b.ko.xz c.ko.zst\nb.ko.xz:\nc.ko.zst:\n", f).unwrap();
        assert_eq!(ok["a.ko"], ["b.ko.xz", "c.ko.zst"]);
    }

    #[test]
    fn staging_copies_closure_and_filtered_indexes() {
        let (_t, root) = synthetic_modules();
        let dir = ModulesDir::open(&root).unwrap();
        let c = dir.closure(&["ext4", "sd_mod", "virtio"]).unwrap();
        let dest = tempfile::tempdir().unwrap();
        let out = dir.stage(&c, dest.path()).unwrap();
        assert_eq!(out, dest.path().join("lib/modules/6.1.0-test"));
        for m in &c.modules {
            assert_eq!(fs::read(out.join(&m.path)).unwrap(), m.path.as_bytes());
        }
        assert!(!out.join("kernel/unused/foo.ko").exists());
        assert!(!out.join("kernel/drivers/block/virtio_blk.ko").exists());
        let dep = fs::read_to_string(out.join("modules.dep")).unwrap();
        assert_eq!(
            dep,
            "kernel/lib/crc16.ko:\n\
             kernel/fs/jbd2/jbd2.ko: kernel/lib/crc16.ko\n\
             kernel/fs/mbcache.ko:\n\
             kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n\
             kernel/drivers/scsi/scsi_common.ko.zst:\n\
             kernel/drivers/scsi/sd_mod.ko.xz: kernel/drivers/scsi/scsi_common.ko.zst\n"
        );
        // The staged directory is itself a valid modules directory with the same closure.
        let again = ModulesDir::open(&out).unwrap();
        assert_eq!(again.closure(&["ext4", "sd_mod", "virtio"]).unwrap(), c);
        let order = fs::read_to_string(out.join("modules.order")).unwrap();
        assert_eq!(order.lines().count(), 6);
        assert!(order.starts_with("kernel/drivers/scsi/scsi_common.ko.zst\n"));
        assert!(out.join("modules.builtin").exists());
        // And it archives.
        let initrd = build_initrd(dest.path(), Compression::None, 0).unwrap();
        let es = parse_newc(&initrd);
        assert!(es
            .iter()
            .any(|e| e.name == "lib/modules/6.1.0-test/kernel/fs/ext4/ext4.ko"));
    }

    /// A minimal little-endian ELF64 object with `.shstrtab` and a `.modinfo` section.
    fn fake_module(modinfo: &[&str]) -> Vec<u8> {
        let strtab = b"\0.shstrtab\0.modinfo\0";
        let mut info = Vec::new();
        for kv in modinfo {
            info.extend_from_slice(kv.as_bytes());
            info.push(0);
        }
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // 64-bit
        f[5] = 1; // little-endian
        f[6] = 1;
        let strtab_off = f.len() as u64;
        f.extend_from_slice(strtab);
        let info_off = f.len() as u64;
        f.extend_from_slice(&info);
        while f.len() % 8 != 0 {
            f.push(0);
        }
        let shoff = f.len() as u64;
        f[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        f[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        f[0x3C..0x3E].copy_from_slice(&3u16.to_le_bytes());
        f[0x3E..0x40].copy_from_slice(&1u16.to_le_bytes());
        for (name, off, size) in [
            (0u32, 0u64, 0u64),
            (1, strtab_off, strtab.len() as u64),
            (11, info_off, info.len() as u64),
        ] {
            let mut sh = [0u8; 64];
            sh[..4].copy_from_slice(&name.to_le_bytes());
            sh[0x18..0x20].copy_from_slice(&off.to_le_bytes());
            sh[0x20..0x28].copy_from_slice(&size.to_le_bytes());
            f.extend_from_slice(&sh);
        }
        f
    }

    #[test]
    fn closure_from_modinfo_without_modules_dep() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("6.1.0-nodep");
        write(
            &root,
            "kernel/fs/ext4/ext4.ko",
            &fake_module(&["license=GPL", "depends=jbd2,mbcache,crc16", "name=ext4"]),
        );
        write(
            &root,
            "kernel/fs/jbd2/jbd2.ko",
            &fake_module(&["depends=crc16", "name=jbd2"]),
        );
        write(&root, "kernel/fs/mbcache.ko", &fake_module(&["depends="]));
        let crc = ruzstd::encoding::compress_to_vec(
            &fake_module(&["depends=", "name=crc16"])[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        write(&root, "kernel/lib/crc16.ko.zst", &crc);
        write(
            &root,
            "kernel/x/bad-dep.ko",
            &fake_module(&["depends=missing"]),
        );
        write(&root, "kernel/x/not-elf.ko", b"garbage");
        write(&root, "modules.builtin", b"kernel/fs/fat/vfat.ko\n");
        let dir = ModulesDir::open(&root).unwrap();
        assert!(!dir.has_modules_dep());
        let c = dir.closure(&["ext4", "vfat"]).unwrap();
        assert_eq!(names(&c), ["crc16", "jbd2", "mbcache", "ext4"]);
        let pos = |n: &str| names(&c).iter().position(|x| *x == n).unwrap();
        assert!(
            pos("crc16") < pos("jbd2") && pos("jbd2") < pos("ext4") && pos("mbcache") < pos("ext4")
        );
        assert_eq!(c.builtin, ["vfat"]);
        let e = dir.closure(&["bad-dep"]).unwrap_err().to_string();
        assert!(e.contains("\"missing\""), "{e}");
        let e = dir.closure(&["not_elf"]).unwrap_err().to_string();
        assert!(e.contains("not an ELF file"), "{e}");

        let dest = tempfile::tempdir().unwrap();
        let out = dir.stage(&c, dest.path()).unwrap();
        let dep = fs::read_to_string(out.join("modules.dep")).unwrap();
        assert!(dep.contains(
            "kernel/fs/ext4/ext4.ko: kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko.zst\n"
        ), "{dep}");
        // The generated modules.dep reads back to the same closure.
        let again = ModulesDir::open(&out).unwrap();
        assert!(again.has_modules_dep());
        assert_eq!(names(&again.closure(&["ext4"]).unwrap()), names(&c));
    }

    #[test]
    fn soft_dependencies_come_along_through_their_aliases() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("6.1.0-soft");
        write(
            &root,
            "kernel/fs/ext4/ext4.ko",
            &fake_module(&["depends=", "softdep=pre: crc32c post: nonesuch"]),
        );
        write(
            &root,
            "kernel/crypto/crc32c_generic.ko",
            &fake_module(&["depends=", "alias=crypto-crc32c", "alias=crc32c"]),
        );
        write(
            &root,
            "kernel/arch/x86/crypto/crc32c-intel.ko",
            &fake_module(&["depends=", "alias=crc32c"]),
        );
        write(
            &root,
            "kernel/crypto/sha256_generic.ko",
            &fake_module(&["depends=", "alias=sha256"]),
        );
        assert_eq!(parse_softdep("pre: a b post: c"), ["a", "b", "c"]);
        let dir = ModulesDir::open(&root).unwrap();
        let c = dir.closure(&["ext4"]).unwrap();
        // Both providers of the alias, before ext4; the unknown one is ignored, as by modprobe.
        assert_eq!(names(&c), ["crc32c_generic", "crc32c_intel", "ext4"]);
    }

    #[test]
    fn real_debian_modules_tree() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/bench-data/kernel/unpacked/lib/modules");
        let Some(root) = fs::read_dir(&base)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path())
        else {
            eprintln!(
                "skipping real_debian_modules_tree: no kernel modules tree under {}",
                base.display()
            );
            return;
        };
        let start = std::time::Instant::now();
        let dir = ModulesDir::open(&root).unwrap();
        let c = dir
            .closure(&["virtio_blk", "ext4", "virtio_pci", "sd_mod"])
            .unwrap();
        eprintln!(
            "{}: {} modules ({} dependencies from {}), builtin {:?}, in {:?}: {:?}",
            root.display(),
            c.modules.len(),
            c.modules.iter().map(|m| m.depends.len()).sum::<usize>(),
            if dir.has_modules_dep() {
                "modules.dep"
            } else {
                ".modinfo"
            },
            c.builtin,
            start.elapsed(),
            names(&c)
        );
        let n = names(&c);
        for m in ["jbd2", "mbcache"] {
            if dir.by_name.contains_key(m) {
                assert!(n.contains(&m), "{m} missing from {n:?}");
            }
        }
        for (i, m) in c.modules.iter().enumerate() {
            for d in &m.depends {
                assert!(n[..i].contains(&d.as_str()), "{} before {d}", m.name);
            }
        }
        let dest = tempfile::tempdir().unwrap();
        let out = dir.stage(&c, dest.path()).unwrap();
        let again = ModulesDir::open(&out).unwrap();
        assert_eq!(
            names(
                &again
                    .closure(&["virtio_blk", "ext4", "virtio_pci", "sd_mod"])
                    .unwrap()
            ),
            n
        );
        let gz = build_initrd(dest.path(), Compression::Gzip, 0).unwrap();
        eprintln!("initrd with those modules: {} bytes gzipped", gz.len());
    }
}
