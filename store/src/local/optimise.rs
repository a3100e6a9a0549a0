//! Optimise: replace identical regular files in the store by hard links to one inode kept in
//! `.links/<nix32 of the file's NAR hash>`, as `nix-store --optimise` does.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde::Serialize;

use super::{io_err, LocalStore, StoreError};
use crate::hash::HashAlgo;
use crate::nar;

/// What `optimise` did.
#[derive(Debug, Default, Serialize)]
pub struct OptimiseStats {
    pub files_linked: u64,
    pub bytes_freed: u64,
}

impl LocalStore {
    /// Hard-links identical files across all valid paths.
    pub fn optimise(&self) -> Result<OptimiseStats, StoreError> {
        // Shared: adds may run alongside, but GC (which prunes .links) may not.
        let _lock = self.gc_lock(false)?;
        let links = self.real_store_dir().join(".links");
        fs::create_dir_all(&links).map_err(io_err("cannot create", &links))?;
        let mut stats = OptimiseStats::default();
        for p in self.valid_paths()? {
            self.optimise_tree(&self.real_path(&p), &links, &mut stats)?;
        }
        Ok(stats)
    }

    fn optimise_tree(
        &self,
        path: &Path,
        links: &Path,
        stats: &mut OptimiseStats,
    ) -> Result<(), StoreError> {
        let md = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(_) => return Ok(()),
        };
        if md.is_dir() {
            let mut names: Vec<_> = fs::read_dir(path)
                .map_err(io_err("cannot read", path))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            names.sort();
            for n in names {
                self.optimise_tree(&n, links, stats)?;
            }
            return Ok(());
        }
        if !md.is_file() || md.len() == 0 {
            return Ok(());
        }
        let (hash, _) = nar::hash_path(path, HashAlgo::Sha256)?;
        let link = links.join(hash.to_nix32());
        let link_md = match fs::symlink_metadata(&link) {
            Ok(m) => m,
            Err(_) => {
                match fs::hard_link(path, &link) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return self.optimise_tree(path, links, stats);
                    }
                    Err(e) => return Err(io_err("cannot link", &link)(e)),
                }
                return Ok(());
            }
        };
        if link_md.ino() == md.ino() && link_md.dev() == md.dev() {
            return Ok(());
        }
        // Replace the file by a link to the shared inode: link to a temporary name in the same
        // directory, then rename over the file, so the file is never absent.
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        let tmp = parent.join(format!(".tmp-link-{}", std::process::id()));
        let parent_md = fs::metadata(parent).map_err(io_err("cannot stat", parent))?;
        let parent_mode = parent_md.mode() & 0o7777;
        fs::set_permissions(parent, fs::Permissions::from_mode(parent_mode | 0o200))
            .map_err(io_err("cannot make writable", parent))?;
        let res = (|| {
            let _ = fs::remove_file(&tmp);
            fs::hard_link(&link, &tmp).map_err(io_err("cannot link", &tmp))?;
            fs::rename(&tmp, path).map_err(io_err("cannot replace", path))
        })();
        let _ = fs::remove_file(&tmp);
        fs::set_permissions(parent, fs::Permissions::from_mode(parent_mode))
            .map_err(io_err("cannot restore the mode of", parent))?;
        // Renaming touched the directory; give it back its canonical time.
        super::canonicalise_times_only(parent)?;
        res?;
        stats.files_linked += 1;
        stats.bytes_freed += md.blocks() * 512;
        Ok(())
    }
}
