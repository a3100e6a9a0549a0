//! The only way the evaluator reaches outside itself. The builder implements [`EvalIo`] over
//! the real file system and store; tests implement it in memory.

use std::io;
use std::path::Path;

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
pub type PathFilter<'a> = &'a mut dyn FnMut(&Path, FileKind) -> Result<bool, String>;

/// What the evaluator asks of the outside world.
pub trait EvalIo {
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>>;
    fn path_exists(&self, path: &Path) -> bool;
    fn is_dir(&self, path: &Path) -> bool;
    /// Entries of a directory, sorted by name.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<(String, FileKind)>>;
    fn get_env(&self, name: &str) -> Option<String>;
    /// Adds a file or tree to the store as a source path named `name` (copying, or in a
    /// read-only evaluation only computing its path) and returns the store path.
    fn add_path(
        &self,
        path: &Path,
        name: &str,
        filter: Option<PathFilter<'_>>,
    ) -> Result<String, String>;
    /// Adds a text file with references (`builtins.toFile`) and returns its store path.
    fn add_text(
        &self,
        name: &str,
        contents: &[u8],
        references: &[String],
    ) -> Result<String, String>;
    /// Writes a derivation's ATerm as `<name>.drv` with references and returns its path.
    fn add_derivation(
        &self,
        name: &str,
        aterm: &[u8],
        references: &[String],
    ) -> Result<String, String> {
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
    ) -> Result<String, String>;
    /// The store directory, `/nix/store`.
    fn store_dir(&self) -> String;
}
