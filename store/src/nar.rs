//! NAR, the Nix archive format: a deterministic serialisation of a file system tree.
//!
//! A NAR holds one node: a regular file (contents and an executable bit), a symlink (its
//! target) or a directory (entries sorted by name). Nothing else of the file system is kept:
//! no times, owners or other permission bits, so equal trees give equal bytes and hashes.
//!
//! [`dump`] writes the archive of a tree while it walks it, [`NarParser`] reads one back with a
//! visitor and validates every token as it goes, and [`Restorer`] is the visitor that recreates
//! the tree on disk.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::hash::{Hash, HashAlgo, Hasher};
use crate::wire::{self, framed, padding};

/// The string every archive starts with.
pub const MAGIC: &[u8] = b"nix-archive-1";
/// Longest entry name accepted (Linux's NAME_MAX).
pub const MAX_NAME_LEN: usize = 255;
/// Longest symlink target accepted (Linux's PATH_MAX less the NUL).
pub const MAX_TARGET_LEN: usize = 4095;
/// Deepest directory nesting accepted. A path on Linux is at most 4096 bytes, so a real tree
/// cannot be deeper than about half that.
pub const MAX_DEPTH: usize = 2048;

const BUF_SIZE: usize = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Writing

/// Why a tree could not be archived.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("cannot read '{path}': {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "'{0}' is a {1}, which a NAR cannot hold (only regular files, directories and symlinks)"
    )]
    Unsupported(PathBuf, &'static str),
    #[error("'{path}' changed size while it was being read (expected {expected} bytes)")]
    Changed { path: PathBuf, expected: u64 },
    #[error("cannot write the archive: {0}")]
    Write(io::Error),
    #[error("the filter failed on '{path}': {source}")]
    Filter { path: PathBuf, source: FilterError },
}

/// Writes the NAR of the tree at `path` to `out`.
pub fn dump(path: &Path, out: &mut impl Write) -> Result<(), DumpError> {
    let mut d = Dumper {
        out,
        copy: None,
        buf: vec![0u8; BUF_SIZE],
        filter: None,
    };
    d.out.write_all(&framed(MAGIC)).map_err(DumpError::Write)?;
    d.node(path, None)
}

/// Decides whether an entry below the root of a dump is included: gets the entry's path and
/// whether it is a directory, regular file or symlink ("directory", "regular", "symlink").
pub type DumpFilter<'a> = &'a mut dyn FnMut(&Path, &'static str) -> Result<bool, FilterError>;

/// Why a [`DumpFilter`] failed: the caller's own error (the store does not know its type).
pub type FilterError = Box<dyn std::error::Error + Send + Sync>;

/// Writes the NAR of `path`, leaving out every entry below the root that `filter` rejects
/// (with everything under it), as `builtins.filterSource` does.
pub fn dump_filtered(
    path: &Path,
    out: &mut impl Write,
    filter: DumpFilter<'_>,
) -> Result<(), DumpError> {
    let mut d = Dumper {
        out,
        copy: None,
        buf: vec![0u8; BUF_SIZE],
        filter: Some(filter),
    };
    d.out.write_all(&framed(MAGIC)).map_err(DumpError::Write)?;
    d.node(path, None)
}

/// Writes the NAR of `src` to `out` and, in the same walk, copies the tree to `dest` (which
/// must not exist), so a tree is read once to be both hashed and copied.
pub fn dump_and_copy(src: &Path, out: &mut impl Write, dest: &Path) -> Result<(), DumpError> {
    let mut d = Dumper {
        out,
        copy: Some(()),
        buf: vec![0u8; BUF_SIZE],
        filter: None,
    };
    d.out.write_all(&framed(MAGIC)).map_err(DumpError::Write)?;
    d.node(src, Some(dest))
}

/// Like [`dump_and_copy`], leaving out what `filter` rejects (see [`dump_filtered`]).
pub fn dump_and_copy_filtered(
    src: &Path,
    out: &mut impl Write,
    dest: &Path,
    filter: DumpFilter<'_>,
) -> Result<(), DumpError> {
    let mut d = Dumper {
        out,
        copy: Some(()),
        buf: vec![0u8; BUF_SIZE],
        filter: Some(filter),
    };
    d.out.write_all(&framed(MAGIC)).map_err(DumpError::Write)?;
    d.node(src, Some(dest))
}

/// The NAR hash and size of the tree at `path`.
pub fn hash_path(path: &Path, algo: HashAlgo) -> Result<(Hash, u64), DumpError> {
    hash_pipelined(algo, |out| dump(path, out))
}

/// Runs `produce` (which writes a NAR) on a second thread and hashes what it writes on this
/// one. Hashing is the bottleneck of NAR work and cannot itself be split, so the win is that
/// walking the tree, the system calls and the copying all happen while the hasher runs.
pub fn hash_pipelined<E, F>(algo: HashAlgo, produce: F) -> Result<(Hash, u64), E>
where
    E: Send,
    F: FnOnce(&mut PipeWriter) -> Result<(), E> + Send,
{
    const DEPTH: usize = 4;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(DEPTH);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(DEPTH + 2);
    for _ in 0..DEPTH + 1 {
        // Never blocks: the channel has room for every buffer.
        let _ = empty_tx.send(Vec::with_capacity(PIPE_CHUNK));
    }
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut w = PipeWriter {
                cur: Vec::with_capacity(PIPE_CHUNK),
                full: full_tx,
                empty: empty_rx,
            };
            let r = produce(&mut w);
            w.send_current();
            r
        });
        let mut h = CountingHasher::new(algo);
        for buf in full_rx.iter() {
            let _ = h.write_all(&buf);
            // The producer may have finished and dropped its receiver; then nobody wants it.
            let _ = empty_tx.send(buf);
        }
        match producer.join() {
            Ok(r) => r.map(|()| h.finish()),
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

const PIPE_CHUNK: usize = 1 << 20;

/// The writing end of [`hash_pipelined`]: collects bytes into 1 MiB blocks for the hasher.
#[derive(Debug)]
pub struct PipeWriter {
    cur: Vec<u8>,
    full: std::sync::mpsc::SyncSender<Vec<u8>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
}

impl PipeWriter {
    fn send_current(&mut self) {
        if self.cur.is_empty() {
            return;
        }
        let next = self
            .empty
            .recv()
            .unwrap_or_else(|_| Vec::with_capacity(PIPE_CHUNK));
        let full = std::mem::replace(&mut self.cur, next);
        // The hasher only stops receiving when this writer is gone.
        let _ = self.full.send(full);
        self.cur.clear();
    }
}

impl Write for PipeWriter {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let n = buf.len();
        while !buf.is_empty() {
            let room = PIPE_CHUNK - self.cur.len();
            let take = room.min(buf.len());
            self.cur.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.cur.len() == PIPE_CHUNK {
                self.send_current();
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A writer that hashes and counts what passes through it.
#[derive(Debug)]
pub struct CountingHasher {
    hasher: Hasher,
    count: u64,
}

impl CountingHasher {
    pub fn new(algo: HashAlgo) -> Self {
        CountingHasher {
            hasher: Hasher::new(algo),
            count: 0,
        }
    }
    pub fn finish(self) -> (Hash, u64) {
        (self.hasher.finish(), self.count)
    }
}

impl Write for CountingHasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.count += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Dumper<'a, 'f, W: Write> {
    out: &'a mut W,
    copy: Option<()>,
    buf: Vec<u8>,
    filter: Option<DumpFilter<'f>>,
}

impl<W: Write> Dumper<'_, '_, W> {
    fn put(&mut self, tokens: &[&[u8]]) -> Result<(), DumpError> {
        for t in tokens {
            wire::write_bytes(self.out, t).map_err(DumpError::Write)?;
        }
        Ok(())
    }

    fn node(&mut self, path: &Path, dest: Option<&Path>) -> Result<(), DumpError> {
        let io = |source| DumpError::Io {
            path: path.to_owned(),
            source,
        };
        let md = fs::symlink_metadata(path).map_err(io)?;
        let ft = md.file_type();
        if ft.is_file() {
            let executable = md.mode() & 0o100 != 0;
            self.put(&[b"(", b"type", b"regular"])?;
            if executable {
                self.put(&[b"executable", b""])?;
            }
            self.put(&[b"contents"])?;
            let size = md.len();
            wire::write_u64(self.out, size).map_err(DumpError::Write)?;
            let mut f = File::open(path).map_err(io)?;
            let mut copy = match dest {
                Some(d) if self.copy.is_some() => Some(
                    fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(if executable { 0o755 } else { 0o644 })
                        .open(d)
                        .map_err(|source| DumpError::Io {
                            path: d.to_owned(),
                            source,
                        })?,
                ),
                _ => None,
            };
            let mut left = size;
            while left > 0 {
                let want = self
                    .buf
                    .len()
                    .min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = f.read(&mut self.buf[..want]).map_err(io)?;
                if n == 0 {
                    return Err(DumpError::Changed {
                        path: path.to_owned(),
                        expected: size,
                    });
                }
                self.out
                    .write_all(&self.buf[..n])
                    .map_err(DumpError::Write)?;
                if let (Some(c), Some(d)) = (copy.as_mut(), dest) {
                    c.write_all(&self.buf[..n])
                        .map_err(|source| DumpError::Io {
                            path: d.to_owned(),
                            source,
                        })?;
                }
                left -= n as u64;
            }
            // A file that grew while we read it would give an archive that lies about it.
            if f.read(&mut self.buf[..1]).map_err(io)? != 0 {
                return Err(DumpError::Changed {
                    path: path.to_owned(),
                    expected: size,
                });
            }
            self.out
                .write_all(&[0u8; 8][..padding(size)])
                .map_err(DumpError::Write)?;
            self.put(&[b")"])
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io)?;
            if let Some(d) = dest {
                std::os::unix::fs::symlink(&target, d).map_err(|source| DumpError::Io {
                    path: d.to_owned(),
                    source,
                })?;
            }
            self.put(&[
                b"(",
                b"type",
                b"symlink",
                b"target",
                target.as_os_str().as_bytes(),
                b")",
            ])
        } else if ft.is_dir() {
            if let Some(d) = dest {
                fs::create_dir(d).map_err(|source| DumpError::Io {
                    path: d.to_owned(),
                    source,
                })?;
            }
            self.put(&[b"(", b"type", b"directory"])?;
            let mut names: Vec<std::ffi::OsString> = fs::read_dir(path)
                .map_err(io)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()
                .map_err(io)?;
            names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for name in names {
                let child = path.join(&name);
                if let Some(f) = self.filter.as_mut() {
                    let cmd = fs::symlink_metadata(&child).map_err(|source| DumpError::Io {
                        path: child.clone(),
                        source,
                    })?;
                    let kind = if cmd.is_dir() {
                        "directory"
                    } else if cmd.file_type().is_symlink() {
                        "symlink"
                    } else if cmd.is_file() {
                        "regular"
                    } else {
                        "unknown"
                    };
                    let keep = f(&child, kind).map_err(|source| DumpError::Filter {
                        path: child.clone(),
                        source,
                    })?;
                    if !keep {
                        continue;
                    }
                }
                self.put(&[b"entry", b"(", b"name", name.as_bytes(), b"node"])?;
                let child_dest = dest.map(|d| d.join(&name));
                self.node(&path.join(&name), child_dest.as_deref())?;
                self.put(&[b")"])?;
            }
            self.put(&[b")"])
        } else {
            let kind = if ft_is(&md, libc_s_ififo()) {
                "named pipe"
            } else if ft_is(&md, libc_s_ifsock()) {
                "socket"
            } else {
                "device file"
            };
            Err(DumpError::Unsupported(path.to_owned(), kind))
        }
    }
}

const fn libc_s_ififo() -> u32 {
    0o010000
}
const fn libc_s_ifsock() -> u32 {
    0o140000
}
fn ft_is(md: &fs::Metadata, kind: u32) -> bool {
    md.mode() & 0o170000 == kind
}

// ---------------------------------------------------------------------------------------------
// Reading

/// What is wrong with an archive, and where.
#[derive(Debug, thiserror::Error)]
pub enum NarError {
    #[error("malformed NAR at byte {offset}: {problem}")]
    Malformed { offset: u64, problem: String },
    #[error("NAR ends early at byte {offset}: {context}")]
    Truncated { offset: u64, context: String },
    #[error("cannot read the NAR: {0}")]
    Read(io::Error),
    #[error("cannot restore '{path}': {source}")]
    Restore { path: PathBuf, source: io::Error },
}

impl NarError {
    /// The byte offset the error refers to, when it is about the archive itself.
    pub fn offset(&self) -> Option<u64> {
        match self {
            NarError::Malformed { offset, .. } | NarError::Truncated { offset, .. } => {
                Some(*offset)
            }
            _ => None,
        }
    }
}

/// Receives the nodes of an archive as [`NarParser`] reads them. `path` is the node's path
/// relative to the archive root, as raw bytes joined by `/`; the root is the empty path.
pub trait NarVisitor {
    fn directory(&mut self, path: &[u8]) -> io::Result<()>;
    fn symlink(&mut self, path: &[u8], target: &[u8]) -> io::Result<()>;
    fn file_start(&mut self, path: &[u8], executable: bool, size: u64) -> io::Result<()>;
    fn file_chunk(&mut self, data: &[u8]) -> io::Result<()>;
    fn file_end(&mut self) -> io::Result<()>;
}

/// A visitor that checks the archive and keeps nothing.
#[derive(Debug, Default)]
pub struct Validate;

impl NarVisitor for Validate {
    fn directory(&mut self, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn symlink(&mut self, _: &[u8], _: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn file_start(&mut self, _: &[u8], _: bool, _: u64) -> io::Result<()> {
        Ok(())
    }
    fn file_chunk(&mut self, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn file_end(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A streaming, validating NAR reader. It consumes exactly one archive from its input, so it
/// can read archives embedded in a larger stream.
#[derive(Debug)]
pub struct NarParser<R: Read> {
    r: R,
    offset: u64,
    buf: Vec<u8>,
}

enum Frame {
    /// Inside a directory: the path of the directory and the last entry name seen.
    Dir {
        path: Vec<u8>,
        last: Option<Vec<u8>>,
    },
}

impl<R: Read> NarParser<R> {
    pub fn new(r: R) -> Self {
        Self::at_offset(r, 0)
    }

    /// A parser whose error offsets count from `base`, for an archive inside a larger stream.
    pub fn at_offset(r: R, base: u64) -> Self {
        NarParser {
            r,
            offset: base,
            buf: vec![0u8; BUF_SIZE],
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn into_inner(self) -> R {
        self.r
    }

    fn malformed<T>(&self, at: u64, problem: impl Into<String>) -> Result<T, NarError> {
        Err(NarError::Malformed {
            offset: at,
            problem: problem.into(),
        })
    }

    fn read_exact(&mut self, n: usize, context: &str) -> Result<(), NarError> {
        let mut got = 0;
        while got < n {
            match self.r.read(&mut self.buf[got..n]) {
                Ok(0) => {
                    return Err(NarError::Truncated {
                        offset: self.offset + got as u64,
                        context: context.to_owned(),
                    })
                }
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(NarError::Read(e)),
            }
        }
        self.offset += n as u64;
        Ok(())
    }

    fn read_u64(&mut self, context: &str) -> Result<u64, NarError> {
        self.read_exact(8, context)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.buf[..8]);
        Ok(u64::from_le_bytes(b))
    }

    fn read_padding(&mut self, len: u64, context: &str) -> Result<(), NarError> {
        let p = padding(len);
        if p == 0 {
            return Ok(());
        }
        let at = self.offset;
        self.read_exact(p, context)?;
        if self.buf[..p].iter().any(|&b| b != 0) {
            let msg = if context.starts_with("after ") {
                format!("non-zero padding {context}")
            } else {
                format!("non-zero padding after {context}")
            };
            return self.malformed(at, msg);
        }
        Ok(())
    }

    /// Reads a string of at most `max` bytes.
    fn read_string(&mut self, max: usize, context: &str) -> Result<Vec<u8>, NarError> {
        let at = self.offset;
        let len = self.read_u64(context)?;
        if len > max as u64 {
            return self.malformed(
                at,
                format!("{context} has length {len}, more than the {max} bytes allowed"),
            );
        }
        let n = len as usize;
        self.read_exact(n, context)?;
        let s = self.buf[..n].to_vec();
        self.read_padding(len, context)?;
        Ok(s)
    }

    /// Reads a token and checks that it is `want`.
    fn expect(&mut self, want: &[u8], context: &str) -> Result<(), NarError> {
        let at = self.offset;
        let got = self.read_string(32, context)?;
        if got != want {
            return self.malformed(
                at,
                format!(
                    "expected '{}' {context}, found '{}'",
                    String::from_utf8_lossy(want),
                    String::from_utf8_lossy(&got)
                ),
            );
        }
        Ok(())
    }

    /// Reads one whole archive, calling `v` for every node.
    pub fn parse(&mut self, v: &mut impl NarVisitor) -> Result<(), NarError> {
        let at = self.offset;
        let magic = self
            .read_string(MAGIC.len(), "the archive magic")
            .or_else(|e| match e {
                NarError::Malformed { .. } => self.malformed(at, "not a NAR: bad magic"),
                e => Err(e),
            })?;
        if magic != MAGIC {
            return self.malformed(at, "not a NAR: bad magic");
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut path: Vec<u8> = Vec::new();
        loop {
            // Read the node at `path`.
            self.expect(b"(", "at the start of a node")?;
            self.expect(b"type", "after '('")?;
            let at = self.offset;
            let ty = self.read_string(32, "node type")?;
            let map_io = |path: &[u8], source: io::Error| NarError::Restore {
                path: PathBuf::from(std::ffi::OsString::from_vec(path.to_vec())),
                source,
            };
            match ty.as_slice() {
                b"regular" => {
                    let at = self.offset;
                    let mut tok = self.read_string(32, "regular file field")?;
                    let mut executable = false;
                    if tok == b"executable" {
                        self.expect(b"", "after 'executable'")?;
                        executable = true;
                        tok = self.read_string(32, "regular file field")?;
                    }
                    if tok != b"contents" {
                        return self.malformed(
                            at,
                            format!(
                                "expected 'contents' in regular file '{}', found '{}'",
                                String::from_utf8_lossy(&path),
                                String::from_utf8_lossy(&tok)
                            ),
                        );
                    }
                    let size = self.read_u64("file size")?;
                    v.file_start(&path, executable, size)
                        .map_err(|e| map_io(&path, e))?;
                    let mut left = size;
                    let ctx = format!("contents of '{}'", String::from_utf8_lossy(&path));
                    while left > 0 {
                        let n = self
                            .buf
                            .len()
                            .min(usize::try_from(left).unwrap_or(usize::MAX));
                        self.read_exact(n, &ctx)?;
                        v.file_chunk(&self.buf[..n]).map_err(|e| map_io(&path, e))?;
                        left -= n as u64;
                    }
                    self.read_padding(size, &ctx)?;
                    v.file_end().map_err(|e| map_io(&path, e))?;
                    self.expect(b")", "at the end of a regular file")?;
                }
                b"symlink" => {
                    self.expect(b"target", "in a symlink")?;
                    let at = self.offset;
                    let target = self.read_string(MAX_TARGET_LEN, "symlink target")?;
                    if target.is_empty() {
                        return self.malformed(at, "symlink target is empty");
                    }
                    if target.contains(&0) {
                        return self.malformed(at, "symlink target contains a NUL byte");
                    }
                    v.symlink(&path, &target).map_err(|e| map_io(&path, e))?;
                    self.expect(b")", "at the end of a symlink")?;
                }
                b"directory" => {
                    if stack.len() >= MAX_DEPTH {
                        return self.malformed(
                            at,
                            format!("directories nested more than {MAX_DEPTH} deep"),
                        );
                    }
                    v.directory(&path).map_err(|e| map_io(&path, e))?;
                    stack.push(Frame::Dir {
                        path: path.clone(),
                        last: None,
                    });
                }
                other => {
                    return self.malformed(
                        at,
                        format!("unknown node type '{}'", String::from_utf8_lossy(other)),
                    )
                }
            }
            if ty != b"directory" {
                if stack.is_empty() {
                    return Ok(());
                }
                self.expect(b")", "at the end of a directory entry")?;
            }
            // Find the next node to read, closing finished directories on the way.
            loop {
                let Some(Frame::Dir { path: dir, last }) = stack.last_mut() else {
                    return Ok(());
                };
                let at = self.offset;
                let tok = self.read_string(32, "directory field")?;
                if tok == b")" {
                    stack.pop();
                    if stack.is_empty() {
                        return Ok(());
                    }
                    self.expect(b")", "at the end of a directory entry")?;
                    continue;
                }
                if tok != b"entry" {
                    return self.malformed(
                        at,
                        format!(
                            "expected 'entry' or ')' in directory '{}', found '{}'",
                            String::from_utf8_lossy(dir),
                            String::from_utf8_lossy(&tok)
                        ),
                    );
                }
                let dir = dir.clone();
                let prev = last.clone();
                self.expect(b"(", "after 'entry'")?;
                self.expect(b"name", "in a directory entry")?;
                let at = self.offset;
                let name = self.read_string(MAX_NAME_LEN, "entry name")?;
                let shown = String::from_utf8_lossy(&name).into_owned();
                let dshown = String::from_utf8_lossy(&dir).into_owned();
                if name.is_empty() {
                    return self.malformed(at, format!("empty entry name in directory '{dshown}'"));
                }
                if name == b"." || name == b".." {
                    return self
                        .malformed(at, format!("entry name '{shown}' in directory '{dshown}'"));
                }
                if name.contains(&b'/') {
                    return self.malformed(at, format!("entry name '{shown}' contains '/'"));
                }
                if name.contains(&0) {
                    return self.malformed(at, format!("entry name '{shown}' contains a NUL byte"));
                }
                if let Some(prev) = &prev {
                    if name == *prev {
                        return self.malformed(
                            at,
                            format!("duplicate entry '{shown}' in directory '{dshown}'"),
                        );
                    }
                    if name < *prev {
                        return self.malformed(
                            at,
                            format!(
                                "entry '{shown}' comes after '{}' in directory '{dshown}': entries are not sorted",
                                String::from_utf8_lossy(prev)
                            ),
                        );
                    }
                }
                if let Some(Frame::Dir { last, .. }) = stack.last_mut() {
                    *last = Some(name.clone());
                }
                self.expect(b"node", "in a directory entry")?;
                path = dir;
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(&name);
                break;
            }
        }
    }
}

/// Reads one archive from `r` and checks it, returning its hash and size.
pub fn validate(r: impl Read, algo: HashAlgo) -> Result<(Hash, u64), NarError> {
    let mut hr = HashingReader::new(r, algo);
    NarParser::new(&mut hr).parse(&mut Validate)?;
    Ok(hr.finish())
}

/// A reader that hashes and counts what is read through it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, algo: HashAlgo) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(algo),
            count: 0,
        }
    }
    pub fn finish(self) -> (Hash, u64) {
        (self.hasher.finish(), self.count)
    }
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A visitor that recreates the archived tree at a path that must not exist yet.
#[derive(Debug)]
pub struct Restorer {
    root: PathBuf,
    file: Option<io::BufWriter<File>>,
}

impl Restorer {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Restorer {
            root: root.into(),
            file: None,
        }
    }

    fn target(&self, path: &[u8]) -> PathBuf {
        if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(std::ffi::OsStr::from_bytes(path))
        }
    }
}

impl NarVisitor for Restorer {
    fn directory(&mut self, path: &[u8]) -> io::Result<()> {
        fs::create_dir(self.target(path))
    }
    fn symlink(&mut self, path: &[u8], target: &[u8]) -> io::Result<()> {
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), self.target(path))
    }
    fn file_start(&mut self, path: &[u8], executable: bool, _size: u64) -> io::Result<()> {
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if executable { 0o755 } else { 0o644 })
            .open(self.target(path))?;
        if executable {
            // The umask may have removed execute bits that the archive asks for.
            f.set_permissions(fs::Permissions::from_mode(0o755))?;
        }
        self.file = Some(io::BufWriter::with_capacity(BUF_SIZE, f));
        Ok(())
    }
    fn file_chunk(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.write_all(data),
            None => Err(io::Error::other("file data outside a file")),
        }
    }
    fn file_end(&mut self) -> io::Result<()> {
        match self.file.take() {
            // Closing is enough: a killed process loses nothing the kernel has. Like Nix, the
            // store does not fsync path contents, so a power loss right after an add can
            // lose data of a path already registered (`strata store verify` finds it).
            Some(f) => f.into_inner().map(drop).map_err(|e| e.into_error()),
            None => Ok(()),
        }
    }
}

/// Restores the archive read from `r` at `dest`, which must not exist.
pub fn restore(r: impl Read, dest: &Path) -> Result<u64, NarError> {
    let mut p = NarParser::new(r);
    p.parse(&mut Restorer::new(dest))?;
    Ok(p.offset())
}

#[cfg(test)]
mod tests;
