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
}

impl FsIo {
    pub fn new(store_dir: StoreDir) -> FsIo {
        FsIo { store_dir }
    }

    fn refs(&self, references: &[String]) -> Result<BTreeSet<StorePath>, String> {
        references
            .iter()
            .map(|r| self.store_dir.parse(r).map_err(|e| e.to_string()))
            .collect()
    }
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
        std::env::var(name).ok()
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
                let mut adapt = |p: &Path, kind: &'static str| {
                    let k = match kind {
                        "directory" => FileKind::Directory,
                        "regular" => FileKind::Regular,
                        "symlink" => FileKind::Symlink,
                        _ => FileKind::Unknown,
                    };
                    f(p, k)
                };
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

    fn add_derivation(
        &self,
        name: &str,
        aterm: &[u8],
        references: &[String],
    ) -> Result<String, String> {
        self.add_text(&format!("{name}.drv"), aterm, references)
    }

    fn store_dir(&self) -> String {
        self.store_dir.as_str().to_owned()
    }
}
