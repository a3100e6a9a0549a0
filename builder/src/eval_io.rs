//! [`FsIo`]: the evaluator reads the real file system and computes store paths the way
//! `nix-instantiate --eval` does in read-only mode, without writing to any store.
//! [`StoreIo`]: the same over a real store. Either may be made [`Pure`], as a flake's
//! evaluation is.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use strata_lang::io::{EvalIo, FileKind, IoError, PathFilter};
use strata_store::{nar, Hash, HashAlgo, StoreDir, StorePath};

/// Pure evaluation, as Nix's for flakes: files are read only from the store (whose paths
/// never change once valid: a flake's tree, its inputs, what the evaluation made) and from
/// the directories named here (strata's module set, the file that names the flake's
/// machine), never from the rest of the host; `builtins.getEnv` is always `""`; a URL is
/// fetched only with the hash it must have. A path is judged where it leads: a link in an
/// allowed tree that points out of it is refused too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pure {
    /// The directories (or files) readable besides the store, absolute.
    allowed: Vec<PathBuf>,
}

/// `path` with `.` and `..` taken away (without looking at the file system): `/a/../etc`
/// is `/etc`, as the evaluator would reach it.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

impl Pure {
    /// Pure evaluation that may read `allowed` (made absolute and resolved) and the store.
    pub fn new(allowed: impl IntoIterator<Item = PathBuf>) -> Pure {
        let mut out = Vec::new();
        for p in allowed {
            let p = lexical(&std::path::absolute(&p).unwrap_or(p));
            if let Ok(real) = p.canonicalize() {
                if real != p {
                    out.push(real);
                }
            }
            out.push(p);
        }
        Pure { allowed: out }
    }

    /// The refusal of `path` (`shown`: as the evaluation named it).
    fn refused(shown: &Path, through: Option<&Path>) -> io::Error {
        let via = match through {
            Some(t) => format!(" (it leads to '{}')", t.display()),
            None => String::new(),
        };
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "access to '{}'{via} is refused in pure evaluation: a flake reads only its own \
                 tree, its inputs, the store and strata's module set (use --impure to lift \
                 this)",
                shown.display()
            ),
        )
    }

    fn within(&self, path: &Path, store_roots: &[&Path]) -> bool {
        store_roots.iter().any(|r| path.starts_with(r))
            || self.allowed.iter().any(|a| path.starts_with(a))
    }

    /// Whether the evaluation may read `logical` (the path it names), found on disk at
    /// `physical`; `store_roots` are the store's logical and physical directories.
    fn check(&self, logical: &Path, physical: &Path, store_roots: &[&Path]) -> io::Result<()> {
        let named = lexical(logical);
        if !self.within(&named, store_roots) {
            return Err(Pure::refused(logical, None));
        }
        // A link leading out of what is allowed is judged where it leads.
        let real_roots: Vec<PathBuf> = store_roots
            .iter()
            .filter_map(|r| r.canonicalize().ok())
            .collect();
        let real_refs: Vec<&Path> = real_roots.iter().map(PathBuf::as_path).collect();
        match physical.canonicalize() {
            Ok(real) if !self.within(&real, &real_refs) && !self.within(&real, store_roots) => {
                Err(Pure::refused(logical, Some(&real)))
            }
            _ => Ok(()),
        }
    }
}

/// Reads files from the host and computes (but does not create) store paths.
#[derive(Debug, Clone)]
pub struct FsIo {
    store_dir: StoreDir,
    env: Option<std::collections::BTreeMap<String, String>>,
    pure: Option<Pure>,
}

impl FsIo {
    pub fn new(store_dir: StoreDir) -> FsIo {
        FsIo {
            store_dir,
            env: None,
            pure: None,
        }
    }

    /// Evaluates purely ([`Pure`]) when `pure` is given.
    pub fn with_purity(mut self, pure: Option<Pure>) -> FsIo {
        self.pure = pure;
        self
    }

    /// Whether `path` (named so, found at `physical`) may be read; `real_store` is where the
    /// store's files are, if not at its logical directory.
    fn allow(&self, path: &Path, physical: &Path, real_store: Option<&Path>) -> io::Result<()> {
        let Some(pure) = &self.pure else {
            return Ok(());
        };
        let logical = Path::new(self.store_dir.as_str());
        let mut roots = vec![logical];
        roots.extend(real_store);
        pure.check(path, physical, &roots)
    }

    /// Uses `env` instead of the process environment for `builtins.getEnv`.
    pub fn with_env(mut self, env: std::collections::BTreeMap<String, String>) -> FsIo {
        self.env = Some(env);
        self
    }

    fn refs(&self, references: &[String]) -> Result<BTreeSet<StorePath>, IoError> {
        references
            .iter()
            .map(|r| self.store_dir.parse(r).map_err(|e| IoError::store(r, e)))
            .collect()
    }
}

/// A fetched URL, ready to be added: where its contents are on disk (kept alive by `_dir`
/// for an unpacked tarball), the hash that addresses it, and its store path.
struct Fetched {
    _dir: Option<tempfile::TempDir>,
    source: std::path::PathBuf,
    hash: Hash,
    path: String,
}

/// Fetches what the evaluator asks for. Only `file://` URLs are fetched during evaluation;
/// network fetches are fixed-output derivations, realised by the builder.
fn fetch_url(
    store_dir: &StoreDir,
    url: &str,
    name: &str,
    unpack: bool,
    expected: Option<&Hash>,
) -> Result<Fetched, IoError> {
    let file = url
        .strip_prefix("file://")
        .ok_or_else(|| IoError::UnsupportedUrl {
            url: url.to_owned(),
        })?;
    let file_error = |action| {
        move |source| IoError::File {
            action,
            path: PathBuf::from(file),
            source,
        }
    };
    let algo = expected.map(|h| h.algo()).unwrap_or(HashAlgo::Sha256);
    let (dir, source, hash) = if unpack {
        let dir = tempfile::tempdir().map_err(IoError::TempDir)?;
        let f = fs::File::open(file).map_err(file_error("cannot open"))?;
        let mut head = [0u8; 2];
        let gz = {
            use std::io::Read as _;
            let mut probe = fs::File::open(file).map_err(file_error("cannot open"))?;
            probe.read_exact(&mut head).is_ok() && head == [0x1f, 0x8b]
        };
        let reader: Box<dyn io::Read> = if gz {
            Box::new(flate2::read::GzDecoder::new(f))
        } else {
            Box::new(f)
        };
        let unpacked = dir.path().join("unpacked");
        tar::Archive::new(reader)
            .unpack(&unpacked)
            .map_err(|source| IoError::Unpack {
                url: url.to_owned(),
                source,
            })?;
        let entries: Vec<_> = fs::read_dir(&unpacked)
            .map_err(|source| IoError::ReadUnpacked {
                url: url.to_owned(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        let top = match entries.as_slice() {
            [only] if only.is_dir() => only.clone(),
            _ => {
                return Err(IoError::TarballLayout {
                    url: url.to_owned(),
                })
            }
        };
        let (hash, _) = nar::hash_path(&top, algo).map_err(|e| IoError::store(url, e))?;
        (Some(dir), top, hash)
    } else {
        let bytes = fs::read(file).map_err(file_error("cannot read"))?;
        (None, std::path::PathBuf::from(file), Hash::of(algo, &bytes))
    };
    if let Some(want) = expected {
        if *want != hash {
            return Err(IoError::HashMismatch {
                url: url.to_owned(),
                specified: want.to_sri(),
                got: hash.to_sri(),
            });
        }
    }
    let path = store_dir
        .make_fixed_output_path(name, unpack, &hash)
        .map_err(|e| IoError::store(url, e))?;
    Ok(Fetched {
        _dir: dir,
        source,
        hash,
        path: store_dir.display(&path),
    })
}

fn kind_of(md: &fs::Metadata) -> FileKind {
    let ft = md.file_type();
    if ft.is_dir() {
        FileKind::Directory
    } else if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_file() {
        FileKind::Regular
    } else {
        FileKind::Unknown
    }
}

/// A directory's entries, sorted by name.
fn read_dir_sorted(path: &Path) -> io::Result<Vec<(String, FileKind)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(path)? {
        let e = e?;
        let md = fs::symlink_metadata(e.path())?;
        out.push((e.file_name().to_string_lossy().into_owned(), kind_of(&md)));
    }
    out.sort();
    Ok(out)
}

impl EvalIo for FsIo {
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.allow(path, path, None)?;
        fs::read(path)
    }

    fn path_exists(&self, path: &Path) -> bool {
        self.allow(path, path, None).is_ok() && fs::symlink_metadata(path).is_ok()
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.allow(path, path, None).is_ok() && path.is_dir()
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(String, FileKind)>> {
        self.allow(path, path, None)?;
        read_dir_sorted(path)
    }

    fn pure(&self) -> bool {
        self.pure.is_some()
    }

    fn get_env(&self, name: &str) -> Option<String> {
        if self.pure.is_some() {
            // As Nix's pure evaluation: the environment is not there.
            return None;
        }
        match &self.env {
            Some(e) => e.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    fn add_path(
        &self,
        path: &Path,
        name: &str,
        filter: Option<PathFilter<'_>>,
    ) -> Result<String, IoError> {
        self.allow(path, path, None)
            .map_err(|source| IoError::File {
                action: "cannot add",
                path: path.to_owned(),
                source,
            })?;
        let (hash, _) = match filter {
            None => nar::hash_path(path, HashAlgo::Sha256)
                .map_err(|e| IoError::store(path.display().to_string(), e))?,
            Some(f) => {
                let mut h = nar::CountingHasher::new(HashAlgo::Sha256);
                let mut adapt = |p: &Path, kind: &'static str| {
                    f(p, kind_from(kind)).map_err(nar::FilterError::from)
                };
                nar::dump_filtered(path, &mut h, &mut adapt)
                    .map_err(|e| IoError::store(path.display().to_string(), e))?;
                h.finish()
            }
        };
        let p = self
            .store_dir
            .make_source_path(name, &hash, &BTreeSet::new(), false)
            .map_err(|e| IoError::store(name, e))?;
        Ok(self.store_dir.display(&p))
    }

    fn add_text(
        &self,
        name: &str,
        contents: &[u8],
        references: &[String],
    ) -> Result<String, IoError> {
        let refs = self.refs(references)?;
        let h = Hash::of(HashAlgo::Sha256, contents);
        let p = self
            .store_dir
            .make_text_path(name, &h, &refs)
            .map_err(|e| IoError::store(name, e))?;
        Ok(self.store_dir.display(&p))
    }

    fn fetch(
        &self,
        url: &str,
        name: &str,
        unpack: bool,
        expected: Option<&Hash>,
    ) -> Result<String, IoError> {
        self.pure_fetch(url, expected)?;
        Ok(fetch_url(&self.store_dir, url, name, unpack, expected)?.path)
    }

    fn store_dir(&self) -> String {
        self.store_dir.as_str().to_owned()
    }
}

impl FsIo {
    /// In pure evaluation, a fetch names the hash of what it fetches (as Nix asks of
    /// `fetchurl` and `fetchTarball` there): what it gets can then never change.
    fn pure_fetch(&self, url: &str, expected: Option<&Hash>) -> Result<(), IoError> {
        if self.pure.is_some() && expected.is_none() {
            return Err(IoError::store(
                url,
                format!(
                    "cannot fetch '{url}' in pure evaluation without the hash of what it holds \
                     (give sha256, or use --impure)"
                ),
            ));
        }
        Ok(())
    }
}

/// Writes what the evaluator adds into a real store (`--read-write-mode`), and reads store
/// paths from the store's physical root.
///
/// A deferred `StoreIo` ([`StoreIo::deferred`]) only computes the paths of what the evaluator
/// adds (text files, `.drv` files, copies of sources) and keeps them in memory, where the
/// evaluation reads them back, until [`StoreIo::commit`] writes them in the order they were
/// added. A configuration that fails to evaluate, or whose assertions fail, so leaves the
/// store as it was.
#[derive(Debug)]
pub struct StoreIo {
    store: RefCell<strata_store::LocalStore>,
    fs: FsIo,
    /// `Some` while writes are deferred: what is waiting, in order.
    pending: RefCell<Option<Vec<Pending>>>,
}

/// An addition waiting for [`StoreIo::commit`].
#[derive(Debug)]
enum Pending {
    Text {
        path: String,
        name: String,
        contents: Vec<u8>,
        references: BTreeSet<StorePath>,
    },
    Source {
        path: String,
        name: String,
        source: PathBuf,
        /// With a filter: the entries it kept (their paths on the host).
        kept: Option<BTreeSet<PathBuf>>,
    },
}

impl Pending {
    fn path(&self) -> &str {
        match self {
            Pending::Text { path, .. } | Pending::Source { path, .. } => path,
        }
    }
}

/// Why deferred additions could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Store(#[from] strata_store::StoreError),
    #[error(
        "'{origin}' changed during the evaluation: it was to be {expected}, but is now {found}"
    )]
    Changed {
        origin: String,
        expected: String,
        found: String,
    },
}

impl StoreIo {
    pub fn new(store: strata_store::LocalStore) -> StoreIo {
        let fs = FsIo::new(store.store_dir().clone());
        StoreIo {
            store: RefCell::new(store),
            fs,
            pending: RefCell::new(None),
        }
    }

    /// A `StoreIo` that writes nothing until [`StoreIo::commit`].
    pub fn deferred(store: strata_store::LocalStore) -> StoreIo {
        let io = StoreIo::new(store);
        *io.pending.borrow_mut() = Some(Vec::new());
        io
    }

    /// An evaluator on this thread (its stack base reset: call it on the evaluation thread,
    /// [`crate::eval_thread::run`]) over a deferred `StoreIo` that is never committed: for
    /// evaluations that only read what a file says (a fleet's machines, a flake's outputs);
    /// pure when `pure` is given.
    pub fn read_only_evaluator(
        store_root: &Path,
        store_dir: &StoreDir,
        pure: Option<Pure>,
    ) -> Result<strata_lang::Evaluator, strata_store::StoreError> {
        let store = strata_store::LocalStore::open(store_root, store_dir.clone())?;
        let io = std::rc::Rc::new(StoreIo::deferred(store).with_purity(pure));
        let mut ev = strata_lang::Evaluator::new(crate::eval_thread::eval_config(), io);
        ev.reset_stack_base();
        Ok(ev)
    }

    /// Writes what was deferred, in order, and writes at once from then on. Each path must
    /// come out as it was computed: a source changed since it was read is an error.
    pub fn commit(&self) -> Result<(), CommitError> {
        let Some(pending) = self.pending.borrow_mut().take() else {
            return Ok(());
        };
        let mut store = self.store.borrow_mut();
        for p in pending {
            let (expected, written, origin) = match p {
                Pending::Text {
                    path,
                    name,
                    contents,
                    references,
                } => {
                    let info = store.add_text(&name, &contents, &references)?;
                    (path, store.print(&info.path), name)
                }
                Pending::Source {
                    path,
                    name,
                    source,
                    kept,
                } => {
                    let info = match &kept {
                        None => store.add_path(&source, Some(&name))?,
                        Some(kept) => {
                            let mut keep = |p: &Path, _kind: &'static str| Ok(kept.contains(p));
                            store.add_path_filtered(&source, &name, &mut keep)?
                        }
                    };
                    (path, store.print(&info.path), source.display().to_string())
                }
            };
            if written != expected {
                return Err(CommitError::Changed {
                    origin,
                    expected,
                    found: written,
                });
            }
        }
        Ok(())
    }

    /// A deferred text file's contents, when `path` is one.
    fn pending_text(&self, path: &Path) -> Option<Vec<u8>> {
        let pending = self.pending.borrow();
        pending.as_ref()?.iter().find_map(|p| match p {
            Pending::Text {
                path: at, contents, ..
            } if Path::new(at) == path => Some(contents.clone()),
            _ => None,
        })
    }

    /// Where a path below a deferred copy of a source is read from: the source.
    fn pending_source(&self, path: &Path) -> Option<PathBuf> {
        let pending = self.pending.borrow();
        pending.as_ref()?.iter().find_map(|p| match p {
            Pending::Source {
                path: at, source, ..
            } => path.strip_prefix(at).ok().map(|rest| {
                if rest.as_os_str().is_empty() {
                    source.clone()
                } else {
                    source.join(rest)
                }
            }),
            Pending::Text { .. } => None,
        })
    }

    /// Whether `path` is valid in the store or waiting to be written.
    fn known(&self, path: &str) -> bool {
        let waiting = self
            .pending
            .borrow()
            .as_ref()
            .is_some_and(|v| v.iter().any(|p| p.path() == path));
        waiting
            || self
                .store
                .borrow()
                .parse_path(path)
                .ok()
                .is_some_and(|p| self.store.borrow().is_valid(&p).unwrap_or(false))
    }

    /// Uses `env` instead of the process environment for `builtins.getEnv`.
    pub fn with_env(mut self, env: std::collections::BTreeMap<String, String>) -> StoreIo {
        self.fs = self.fs.with_env(env);
        self
    }

    /// Evaluates purely ([`Pure`]) when `pure` is given.
    pub fn with_purity(mut self, pure: Option<Pure>) -> StoreIo {
        self.fs = self.fs.with_purity(pure);
        self
    }

    /// Whether the evaluation may read `path` (see [`Pure`]). A deferred copy was judged when
    /// it was made.
    fn allow(&self, path: &Path) -> io::Result<()> {
        if self.fs.pure.is_none() || self.pending_source(path).is_some() {
            return Ok(());
        }
        let real_store = self.store.borrow().real_store_dir().to_owned();
        self.fs
            .allow(path, &self.physical(path), Some(real_store.as_path()))
    }

    /// Where a path is on disk: store paths live under the store's physical root, and paths
    /// of deferred copies at their sources.
    fn physical(&self, path: &Path) -> std::path::PathBuf {
        if let Some(p) = self.pending_source(path) {
            return p;
        }
        let store = self.store.borrow();
        match path.strip_prefix(store.store_dir().as_str()) {
            Ok(rest) => store.real_store_dir().join(rest),
            Err(_) => path.to_path_buf(),
        }
    }

    fn print(&self, p: &StorePath) -> String {
        self.store.borrow().print(p)
    }
}

impl EvalIo for StoreIo {
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        if let Some(contents) = self.pending_text(path) {
            return Ok(contents);
        }
        self.allow(path)?;
        fs::read(self.physical(path))
    }

    fn path_exists(&self, path: &Path) -> bool {
        self.pending_text(path).is_some()
            || (self.allow(path).is_ok() && fs::symlink_metadata(self.physical(path)).is_ok())
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.pending_text(path).is_none()
            && self.allow(path).is_ok()
            && self.physical(path).is_dir()
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(String, FileKind)>> {
        self.allow(path)?;
        read_dir_sorted(&self.physical(path))
    }

    fn pure(&self) -> bool {
        self.fs.pure()
    }

    fn get_env(&self, name: &str) -> Option<String> {
        self.fs.get_env(name)
    }

    fn add_path(
        &self,
        path: &Path,
        name: &str,
        filter: Option<PathFilter<'_>>,
    ) -> Result<String, IoError> {
        self.allow(path).map_err(|source| IoError::File {
            action: "cannot add",
            path: path.to_owned(),
            source,
        })?;
        let src = self.physical(path);
        // Judged above, by the name the evaluation gave; the copy reads its physical place.
        let fs = FsIo {
            pure: None,
            ..self.fs.clone()
        };
        if self.pending.borrow().is_some() {
            // Compute the path now; copy at the commit, exactly what the filter kept.
            let (at, kept) = match filter {
                None => (fs.add_path(&src, name, None)?, None),
                Some(f) => {
                    let mut kept = BTreeSet::new();
                    let mut recording = |p: &Path, kind: FileKind| {
                        let keep = f(p, kind)?;
                        if keep {
                            kept.insert(p.to_owned());
                        }
                        Ok(keep)
                    };
                    let at = fs.add_path(&src, name, Some(&mut recording))?;
                    (at, Some(kept))
                }
            };
            if !self.known(&at) {
                if let Some(v) = self.pending.borrow_mut().as_mut() {
                    v.push(Pending::Source {
                        path: at.clone(),
                        name: name.to_owned(),
                        source: src,
                        kept,
                    });
                }
            }
            return Ok(at);
        }
        let info = match filter {
            None => self.store.borrow_mut().add_path(&src, Some(name)),
            Some(f) => {
                let mut adapt = |p: &Path, kind: &'static str| {
                    f(p, kind_from(kind)).map_err(nar::FilterError::from)
                };
                self.store
                    .borrow_mut()
                    .add_path_filtered(&src, name, &mut adapt)
            }
        }
        .map_err(|e| IoError::store(src.display().to_string(), e))?;
        Ok(self.print(&info.path))
    }

    fn add_text(
        &self,
        name: &str,
        contents: &[u8],
        references: &[String],
    ) -> Result<String, IoError> {
        let refs = self.fs.refs(references)?;
        if self.pending.borrow().is_some() {
            let at = self.fs.add_text(name, contents, references)?;
            if !self.known(&at) {
                if let Some(v) = self.pending.borrow_mut().as_mut() {
                    v.push(Pending::Text {
                        path: at.clone(),
                        name: name.to_owned(),
                        contents: contents.to_vec(),
                        references: refs,
                    });
                }
            }
            return Ok(at);
        }
        let info = self
            .store
            .borrow_mut()
            .add_text(name, contents, &refs)
            .map_err(|e| IoError::store(name, e))?;
        Ok(self.print(&info.path))
    }

    fn fetch(
        &self,
        url: &str,
        name: &str,
        unpack: bool,
        expected: Option<&Hash>,
    ) -> Result<String, IoError> {
        self.fs.pure_fetch(url, expected)?;
        let store_dir = self.store.borrow().store_dir().clone();
        let f = fetch_url(&store_dir, url, name, unpack, expected)?;
        let info = self
            .store
            .borrow_mut()
            .add_fixed(&f.source, Some(name), f.hash.algo(), unpack)
            .map_err(|e| IoError::store(url, e))?;
        let added = self.print(&info.path);
        if added != f.path {
            return Err(IoError::Misplaced {
                url: url.to_owned(),
                added,
                expected: f.path,
            });
        }
        Ok(added)
    }

    fn store_dir(&self) -> String {
        self.fs.store_dir()
    }
}

fn kind_from(kind: &str) -> FileKind {
    match kind {
        "directory" => FileKind::Directory,
        "regular" => FileKind::Regular,
        "symlink" => FileKind::Symlink,
        _ => FileKind::Unknown,
    }
}

/// An evaluation error as one message for the user: rendered with its frames, without the
/// leading `error: ` the command line adds itself.
pub fn error_text(ev: &strata_lang::Evaluator, e: &strata_lang::EvalError) -> String {
    e.render(&ev.sources)
        .trim_end()
        .trim_start_matches("error: ")
        .to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use strata_store::LocalStore;

    fn store(dir: &Path) -> LocalStore {
        LocalStore::open(dir.join("root"), StoreDir::default()).unwrap()
    }

    #[test]
    fn deferred_additions_are_read_back_and_written_only_at_the_commit() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("a"), "a\n").unwrap();
        fs::write(src.join("sub/b"), "b\n").unwrap();
        fs::write(src.join("skipped"), "no\n").unwrap();

        let io = StoreIo::deferred(store(d.path()));
        let text = io.add_text("t", b"hello\n", &[]).unwrap();
        let drv = io
            .add_derivation("x", b"Derive()", std::slice::from_ref(&text))
            .unwrap();
        let copy = io.add_path(&src, "src", None).unwrap();
        let mut keep = |p: &Path, _k: FileKind| Ok(!p.ends_with("skipped"));
        let filtered = io.add_path(&src, "filtered", Some(&mut keep)).unwrap();

        // The evaluation sees them; the store does not have them yet.
        assert_eq!(io.read_file(Path::new(&text)).unwrap(), b"hello\n");
        assert!(io.path_exists(Path::new(&drv)));
        assert_eq!(
            io.read_file(&Path::new(&copy).join("sub/b")).unwrap(),
            b"b\n"
        );
        assert!(io.is_dir(Path::new(&copy)));
        let fresh = store(d.path());
        for p in [&text, &drv, &copy, &filtered] {
            assert!(
                !fresh.is_valid(&fresh.parse_path(p).unwrap()).unwrap(),
                "{p}"
            );
        }

        // The commit writes each at the path the evaluation was given.
        io.commit().unwrap();
        let fresh = store(d.path());
        for p in [&text, &drv, &copy, &filtered] {
            assert!(
                fresh.is_valid(&fresh.parse_path(p).unwrap()).unwrap(),
                "{p}"
            );
        }
        let info = fresh
            .require_info(&fresh.parse_path(&drv).unwrap())
            .unwrap();
        assert_eq!(info.references.len(), 1);
        let filtered_real = fresh.real_path(&fresh.parse_path(&filtered).unwrap());
        assert!(filtered_real.join("a").exists());
        assert!(!filtered_real.join("skipped").exists());

        // From then on, writes are immediate.
        let later = io.add_text("later", b"now\n", &[]).unwrap();
        let fresh = store(d.path());
        assert!(fresh.is_valid(&fresh.parse_path(&later).unwrap()).unwrap());
    }

    #[test]
    fn a_source_that_changes_before_the_commit_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("a"), "a\n").unwrap();
        let io = StoreIo::deferred(store(d.path()));
        io.add_path(&src, "src", None).unwrap();
        fs::write(src.join("a"), "changed\n").unwrap();
        let e = io.commit().unwrap_err();
        assert!(
            e.to_string().contains("changed during the evaluation"),
            "{e}"
        );
    }
}
