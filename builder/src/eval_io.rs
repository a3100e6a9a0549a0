//! [`FsIo`]: the evaluator reads the real file system and computes store paths the way
//! `nix-instantiate --eval` does in read-only mode, without writing to any store.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

use strata_lang::io::{EvalIo, FileKind, PathFilter};
use strata_store::{nar, Hash, HashAlgo, StoreDir, StorePath};

/// Reads files from the host and computes (but does not create) store paths.
#[derive(Debug, Clone)]
pub struct FsIo {
    store_dir: StoreDir,
    env: Option<std::collections::BTreeMap<String, String>>,
}

impl FsIo {
    pub fn new(store_dir: StoreDir) -> FsIo {
        FsIo {
            store_dir,
            env: None,
        }
    }

    /// Uses `env` instead of the process environment for `builtins.getEnv`.
    pub fn with_env(mut self, env: std::collections::BTreeMap<String, String>) -> FsIo {
        self.env = Some(env);
        self
    }

    fn refs(&self, references: &[String]) -> Result<BTreeSet<StorePath>, String> {
        references
            .iter()
            .map(|r| self.store_dir.parse(r).map_err(|e| e.to_string()))
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
) -> Result<Fetched, String> {
    let file = url.strip_prefix("file://").ok_or_else(|| {
        format!("cannot fetch '{url}' during evaluation: only file:// URLs are fetched here; use a fixed-output derivation (fetchurl from the package set) for the network")
    })?;
    let algo = expected.map(|h| h.algo()).unwrap_or(HashAlgo::Sha256);
    let (dir, source, hash) = if unpack {
        let dir =
            tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let f = fs::File::open(file).map_err(|e| format!("cannot open '{file}': {e}"))?;
        let mut head = [0u8; 2];
        let gz = {
            use std::io::Read as _;
            let mut probe =
                fs::File::open(file).map_err(|e| format!("cannot open '{file}': {e}"))?;
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
            .map_err(|e| format!("cannot unpack '{url}': {e}"))?;
        let entries: Vec<_> = fs::read_dir(&unpacked)
            .map_err(|e| format!("cannot read the unpacked '{url}': {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        let top = match entries.as_slice() {
            [only] if only.is_dir() => only.clone(),
            _ => {
                return Err(format!(
                    "tarball '{url}' contains an unexpected number of top-level files"
                ))
            }
        };
        let (hash, _) = nar::hash_path(&top, algo).map_err(|e| e.to_string())?;
        (Some(dir), top, hash)
    } else {
        let bytes = fs::read(file).map_err(|e| format!("cannot read '{file}': {e}"))?;
        (None, std::path::PathBuf::from(file), Hash::of(algo, &bytes))
    };
    if let Some(want) = expected {
        if *want != hash {
            return Err(format!(
                "hash mismatch in file downloaded from '{url}':\n         specified: {}\n         got:       {}",
                want.to_sri(),
                hash.to_sri()
            ));
        }
    }
    let path = store_dir
        .make_fixed_output_path(name, unpack, &hash)
        .map_err(|e| e.to_string())?;
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

impl EvalIo for FsIo {
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn path_exists(&self, path: &Path) -> bool {
        fs::symlink_metadata(path).is_ok()
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(String, FileKind)>> {
        let mut out = Vec::new();
        for e in fs::read_dir(path)? {
            let e = e?;
            let md = fs::symlink_metadata(e.path())?;
            out.push((e.file_name().to_string_lossy().into_owned(), kind_of(&md)));
        }
        out.sort();
        Ok(out)
    }

    fn get_env(&self, name: &str) -> Option<String> {
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
    ) -> Result<String, String> {
        let (hash, _) = match filter {
            None => nar::hash_path(path, HashAlgo::Sha256).map_err(|e| e.to_string())?,
            Some(f) => {
                let mut h = nar::CountingHasher::new(HashAlgo::Sha256);
                let mut adapt = |p: &Path, kind: &'static str| f(p, kind_from(kind));
                nar::dump_filtered(path, &mut h, &mut adapt).map_err(|e| e.to_string())?;
                h.finish()
            }
        };
        let p = self
            .store_dir
            .make_source_path(name, &hash, &BTreeSet::new(), false)
            .map_err(|e| e.to_string())?;
        Ok(self.store_dir.display(&p))
    }

    fn add_text(
        &self,
        name: &str,
        contents: &[u8],
        references: &[String],
    ) -> Result<String, String> {
        let refs = self.refs(references)?;
        let h = Hash::of(HashAlgo::Sha256, contents);
        let p = self
            .store_dir
            .make_text_path(name, &h, &refs)
            .map_err(|e| e.to_string())?;
        Ok(self.store_dir.display(&p))
    }

    fn fetch(
        &self,
        url: &str,
        name: &str,
        unpack: bool,
        expected: Option<&Hash>,
    ) -> Result<String, String> {
        Ok(fetch_url(&self.store_dir, url, name, unpack, expected)?.path)
    }

    fn store_dir(&self) -> String {
        self.store_dir.as_str().to_owned()
    }
}

/// Writes what the evaluator adds into a real store (`--read-write-mode`), and reads store
/// paths from the store's physical root.
#[derive(Debug)]
pub struct StoreIo {
    store: std::cell::RefCell<strata_store::LocalStore>,
    fs: FsIo,
}

impl StoreIo {
    pub fn new(store: strata_store::LocalStore) -> StoreIo {
        let fs = FsIo::new(store.store_dir().clone());
        StoreIo {
            store: std::cell::RefCell::new(store),
            fs,
        }
    }

    /// Uses `env` instead of the process environment for `builtins.getEnv`.
    pub fn with_env(mut self, env: std::collections::BTreeMap<String, String>) -> StoreIo {
        self.fs = self.fs.with_env(env);
        self
    }

    /// Where a path is on disk: store paths live under the store's physical root.
    fn physical(&self, path: &Path) -> std::path::PathBuf {
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
        self.fs.read_file(&self.physical(path))
    }

    fn path_exists(&self, path: &Path) -> bool {
        self.fs.path_exists(&self.physical(path))
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.fs.is_dir(&self.physical(path))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<(String, FileKind)>> {
        self.fs.read_dir(&self.physical(path))
    }

    fn get_env(&self, name: &str) -> Option<String> {
        self.fs.get_env(name)
    }

    fn add_path(
        &self,
        path: &Path,
        name: &str,
        filter: Option<PathFilter<'_>>,
    ) -> Result<String, String> {
        let src = self.physical(path);
        let info = match filter {
            None => self.store.borrow_mut().add_path(&src, Some(name)),
            Some(f) => {
                let mut adapt = |p: &Path, kind: &'static str| f(p, kind_from(kind));
                self.store
                    .borrow_mut()
                    .add_path_filtered(&src, name, &mut adapt)
            }
        }
        .map_err(|e| e.to_string())?;
        Ok(self.print(&info.path))
    }

    fn add_text(
        &self,
        name: &str,
        contents: &[u8],
        references: &[String],
    ) -> Result<String, String> {
        let refs = self.fs.refs(references)?;
        let info = self
            .store
            .borrow_mut()
            .add_text(name, contents, &refs)
            .map_err(|e| e.to_string())?;
        Ok(self.print(&info.path))
    }

    fn fetch(
        &self,
        url: &str,
        name: &str,
        unpack: bool,
        expected: Option<&Hash>,
    ) -> Result<String, String> {
        let store_dir = self.store.borrow().store_dir().clone();
        let f = fetch_url(&store_dir, url, name, unpack, expected)?;
        let info = self
            .store
            .borrow_mut()
            .add_fixed(&f.source, Some(name), f.hash.algo(), unpack)
            .map_err(|e| e.to_string())?;
        let added = self.print(&info.path);
        if added != f.path {
            return Err(format!(
                "internal error: '{url}' was added as '{added}', not '{}'",
                f.path
            ));
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
