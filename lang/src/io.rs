//! The only way the evaluator reaches outside itself. The builder implements [`EvalIo`] over
//! the real file system and store; tests implement it in memory.

use std::io;
use std::path::{Path, PathBuf};

/// The kind of a directory entry, as `builtins.readDir` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Unknown,
}

impl FileKind {
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Regular => "regular",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symlink",
            FileKind::Unknown => "unknown",
        }
    }
}

/// Decides, for `filterSource` and `builtins.path`, whether an entry is copied.
pub type PathFilter<'a> = &'a mut dyn FnMut(&Path, FileKind) -> Result<bool, IoError>;

/// Why the outside world refused what the evaluator asked of it. Each message is the one an
/// evaluation error shows, so it names what failed and on what.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The store refused an addition, or its path could not be computed: `what` is the path
    /// on the host, the name of the text file or the URL being added.
    #[error("{source}")]
    Store {
        what: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file on the host could not be opened or read (`action` says which).
    #[error("{action} '{}': {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot create a temporary directory: {0}")]
    TempDir(#[source] io::Error),
    #[error("cannot fetch '{url}' during evaluation: only file:// URLs are fetched here; use a fixed-output derivation (fetchurl from the package set) for the network")]
    UnsupportedUrl { url: String },
    #[error("cannot unpack '{url}': {source}")]
    Unpack { url: String, source: io::Error },
    #[error("cannot read the unpacked '{url}': {source}")]
    ReadUnpacked { url: String, source: io::Error },
    #[error("tarball '{url}' contains an unexpected number of top-level files")]
    TarballLayout { url: String },
    /// What `url` holds does not have the hash the caller gave (both in SRI form).
    #[error("hash mismatch in file downloaded from '{url}':\n         specified: {specified}\n         got:       {got}")]
    HashMismatch {
        url: String,
        specified: String,
        got: String,
    },
    /// The store put a fetched file elsewhere than the path computed for it (a bug).
    #[error("internal error: '{url}' was added as '{added}', not '{expected}'")]
    Misplaced {
        url: String,
        added: String,
        expected: String,
    },
    /// A filter (the evaluator's function) failed: its error's message.
    #[error("{message}")]
    Filter { message: String },
    /// This implementation has no store or network (`what` says which).
    #[error("no {what} in this evaluation")]
    Unavailable { what: &'static str },
}

impl IoError {
    /// A store error about `what`.
    pub fn store(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> IoError {
        IoError::Store {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// What the evaluator asks of the outside world.
pub trait EvalIo {
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>>;
    fn path_exists(&self, path: &Path) -> bool;
    fn is_dir(&self, path: &Path) -> bool;
    /// Entries of a directory, sorted by name.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<(String, FileKind)>>;
    fn get_env(&self, name: &str) -> Option<String>;
    /// Whether evaluation is pure, as Nix's pure evaluation mode (flakes): then
    /// `builtins.currentSystem` and `builtins.currentTime` do not exist.
    fn pure(&self) -> bool {
        false
    }
    /// The kind of the file at `path` itself (a symlink is not followed), as its directory
    /// lists it. The default asks `read_dir` of the parent.
    fn file_kind(&self, path: &Path) -> io::Result<FileKind> {
        // ENOENT, so the message is the C library's "No such file or directory".
        let missing = || io::Error::from_raw_os_error(2);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            // The root has no entry in a parent.
            return if self.is_dir(path) {
                Ok(FileKind::Directory)
            } else {
                Err(missing())
            };
        };
        let name = name.to_string_lossy();
        self.read_dir(parent)?
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| k)
            .ok_or_else(missing)
    }
    /// Adds a file or tree to the store as a source path named `name` (copying, or in a
    /// read-only evaluation only computing its path) and returns the store path.
    fn add_path(
        &self,
        path: &Path,
        name: &str,
        filter: Option<PathFilter<'_>>,
    ) -> Result<String, IoError>;
    /// Adds a text file with references (`builtins.toFile`) and returns its store path.
    fn add_text(
        &self,
        name: &str,
        contents: &[u8],
        references: &[String],
    ) -> Result<String, IoError>;
    /// Writes a derivation's ATerm as `<name>.drv` with references and returns its path.
    fn add_derivation(
        &self,
        name: &str,
        aterm: &[u8],
        references: &[String],
    ) -> Result<String, IoError> {
        self.add_text(&format!("{name}.drv"), aterm, references)
    }
    /// Fetches `url` into the store as `name`: the file itself, or (`unpack`) the single
    /// top-level directory of a tarball. When `expected` is given, the result must have that
    /// hash (of the file's contents, or of the unpacked tree's NAR) or nothing is added.
    /// Returns the store path.
    fn fetch(
        &self,
        url: &str,
        name: &str,
        unpack: bool,
        expected: Option<&strata_store::Hash>,
    ) -> Result<String, IoError>;
    /// The store directory, `/nix/store`.
    fn store_dir(&self) -> String;
}
