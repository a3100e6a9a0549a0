//! Garbage collection: delete every valid path that no root reaches.
//!
//! Roots are the symlinks below `gcroots/` (a link into the store is a direct root; a link to
//! a file outside it is an indirect root, alive while that file is a link into the store) and
//! every link below `profiles/`. GC holds the exclusive GC lock, so no add or import is between
//! staging and registration while it decides what is dead; it first unregisters the dead paths
//! in one transaction and only then deletes their files, so a crash midway leaves unregistered
//! leftovers, never a valid path with missing files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rusqlite::TransactionBehavior;
use serde::Serialize;

use super::{db_err, delete_tree, io_err, LocalStore, StoreError};
use crate::path::StorePath;

/// What a GC run should do.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Only report what would be deleted.
    pub dry_run: bool,
    /// Delete only these paths, and refuse if any is still alive (`nix-store --delete`).
    pub only: Option<Vec<StorePath>>,
    /// Stop once this many bytes have been freed.
    pub max_freed: Option<u64>,
}

/// What a GC run did (or, for a dry run, would do).
#[derive(Debug, Default, Serialize)]
pub struct GcResult {
    pub deleted: Vec<String>,
    pub bytes_freed: u64,
    pub roots: usize,
    pub live: usize,
}

impl LocalStore {
    /// Every GC root: the link (or indirect root) and the store path it keeps alive.
    pub fn roots(&self) -> Result<BTreeMap<PathBuf, StorePath>, StoreError> {
        let mut roots = BTreeMap::new();
        let gcroots = self.state_dir().join("gcroots");
        let auto = gcroots.join("auto");
        self.find_roots(&gcroots, &auto, true, &mut roots)?;
        self.find_roots(&self.state_dir().join("profiles"), &auto, false, &mut roots)?;
        Ok(roots)
    }

    /// The store path a root's target names: a logical path, or (for links a user follows
    /// on a host whose store lives elsewhere) the physical path of one.
    fn store_target(&self, target: &Path) -> Option<StorePath> {
        if let Ok(rest) = target.strip_prefix(self.real_store_dir()) {
            let logical = format!("{}/{}", self.store_dir().as_str(), rest.to_str()?);
            return self.store_dir().parse_containing(&logical).ok();
        }
        let s = target.to_str()?;
        self.store_dir().parse_containing(s).ok()
    }

    fn find_roots(
        &self,
        dir: &Path,
        auto: &Path,
        follow_indirect: bool,
        roots: &mut BTreeMap<PathBuf, StorePath>,
    ) -> Result<(), StoreError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("cannot read GC roots in", dir)(e)),
        };
        for e in entries {
            let e = e.map_err(io_err("cannot read GC roots in", dir))?;
            let path = e.path();
            // A root removed while we read the directory (`rm result`, a profile switch) is
            // simply no longer a root; it must not fail the collection.
            let ft = match e.file_type() {
                Ok(ft) => ft,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("cannot stat", &path)(e)),
            };
            if ft.is_dir() {
                self.find_roots(&path, auto, follow_indirect, roots)?;
            } else if ft.is_symlink() {
                let target = match fs::read_link(&path) {
                    Ok(t) => t,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err("cannot read link", &path)(e)),
                };
                if let Some(p) = self.store_target(&target) {
                    roots.insert(path, p);
                } else if follow_indirect && target.is_absolute() {
                    match fs::read_link(&target) {
                        Ok(t2) => {
                            if let Some(p) = self.store_target(&t2) {
                                roots.insert(target, p);
                            }
                        }
                        Err(_)
                            if fs::symlink_metadata(&target).is_err() && path.starts_with(auto) =>
                        {
                            // The user removed the link; the indirect root is stale.
                            tracing::debug!(root = %path.display(), "removing stale indirect root");
                            let _ = fs::remove_file(&path);
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the garbage collector.
    pub fn gc(&mut self, opts: &GcOptions) -> Result<GcResult, StoreError> {
        let _lock = self.gc_lock(true)?;
        let roots = self.roots()?;
        let graph = self.graph()?;
        let mut live: BTreeSet<StorePath> = BTreeSet::new();
        let mut todo: Vec<StorePath> = roots
            .values()
            .filter(|p| graph.contains_key(*p))
            .cloned()
            .collect();
        while let Some(p) = todo.pop() {
            if !live.insert(p.clone()) {
                continue;
            }
            if let Some(refs) = graph.get(&p) {
                todo.extend(refs.iter().filter(|r| !live.contains(*r)).cloned());
            }
        }
        let mut dead: Vec<StorePath> = match &opts.only {
            Some(only) => {
                for p in only {
                    if !graph.contains_key(p) {
                        return Err(StoreError::NotValid(self.print(p)));
                    }
                    if live.contains(p) {
                        return Err(StoreError::CannotDelete {
                            path: self.print(p),
                            reason: "it is still alive (reachable from a GC root)".to_owned(),
                        });
                    }
                }
                // Every referrer of a path being deleted must go too, and is dead as well.
                let mut set: BTreeSet<StorePath> = only.iter().cloned().collect();
                let mut referrers: BTreeMap<&StorePath, Vec<&StorePath>> = BTreeMap::new();
                for (p, refs) in &graph {
                    for r in refs {
                        referrers.entry(r).or_default().push(p);
                    }
                }
                let mut todo: Vec<StorePath> = set.iter().cloned().collect();
                while let Some(p) = todo.pop() {
                    for r in referrers.get(&p).into_iter().flatten() {
                        if set.insert((*r).clone()) {
                            todo.push((*r).clone());
                        }
                    }
                }
                if let Some(keep) = set.iter().find(|p| !only.contains(p)) {
                    return Err(StoreError::CannotDelete {
                        path: self.print(&only[0]),
                        reason: format!("'{}' still refers to it", self.print(keep)),
                    });
                }
                set.into_iter().collect()
            }
            None => graph
                .keys()
                .filter(|p| !live.contains(*p))
                .cloned()
                .collect(),
        };
        let mut result = GcResult {
            roots: roots.len(),
            live: live.len(),
            ..GcResult::default()
        };
        if let Some(limit) = opts.max_freed {
            // Referrers before references, so a partial run never strands a reference.
            dead = order_referrers_first(&graph, &dead);
            let mut freed = 0u64;
            let mut keep = 0;
            for p in &dead {
                if freed >= limit {
                    break;
                }
                freed += disk_usage(&self.real_path(p));
                keep += 1;
            }
            dead.truncate(keep);
        }
        if opts.dry_run {
            for p in &dead {
                result.bytes_freed += disk_usage(&self.real_path(p));
                result.deleted.push(self.print(p));
            }
            return Ok(result);
        }
        let store_dir = self.store_dir().clone();
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err("starting the GC transaction"))?;
        tx.pragma_update(None, "defer_foreign_keys", "on")
            .map_err(db_err("deferring foreign keys"))?;
        {
            let mut del = tx
                .prepare("delete from ValidPaths where path = ?1")
                .map_err(db_err("unregistering dead paths"))?;
            for p in &dead {
                del.execute([store_dir.display(p)])
                    .map_err(db_err("unregistering dead paths"))?;
            }
        }
        tx.commit().map_err(db_err("committing the GC"))?;
        for p in &dead {
            let real = self.real_path(p);
            result.bytes_freed += disk_usage(&real);
            delete_tree(&real)?;
            result.deleted.push(self.print(p));
        }
        if opts.only.is_none() {
            self.delete_unregistered(&graph, &mut result)?;
            self.prune_links(&mut result)?;
        }
        Ok(result)
    }

    /// Deletes what lies in the store directory without being a valid path: staging trees
    /// and leftovers of killed processes. Safe under the exclusive GC lock, which no add holds.
    fn delete_unregistered(
        &self,
        graph: &BTreeMap<StorePath, BTreeSet<StorePath>>,
        result: &mut GcResult,
    ) -> Result<(), StoreError> {
        let dir = self.real_store_dir();
        for e in fs::read_dir(dir).map_err(io_err("cannot read", dir))? {
            let e = e.map_err(io_err("cannot read", dir))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name == ".links" {
                continue;
            }
            let valid = StorePath::from_base_name(name)
                .map(|p| graph.contains_key(&p))
                .unwrap_or(false);
            if !valid {
                let path = e.path();
                result.bytes_freed += disk_usage(&path);
                tracing::debug!(path = %path.display(), "deleting unregistered store entry");
                delete_tree(&path)?;
            }
        }
        Ok(())
    }

    /// Removes `.links` entries that no store file shares any more.
    fn prune_links(&self, result: &mut GcResult) -> Result<(), StoreError> {
        let links = self.real_store_dir().join(".links");
        let entries = match fs::read_dir(&links) {
            Ok(e) => e,
            Err(_) => return Ok(()),
        };
        for e in entries {
            let e = e.map_err(io_err("cannot read", &links))?;
            let md = e.metadata().map_err(io_err("cannot stat", e.path()))?;
            if md.nlink() == 1 {
                result.bytes_freed += md.len();
                fs::remove_file(e.path()).map_err(io_err("cannot remove", e.path()))?;
            }
        }
        Ok(())
    }
}

fn order_referrers_first(
    graph: &BTreeMap<StorePath, BTreeSet<StorePath>>,
    dead: &[StorePath],
) -> Vec<StorePath> {
    let set: BTreeSet<&StorePath> = dead.iter().collect();
    let sub: BTreeMap<StorePath, BTreeSet<StorePath>> = dead
        .iter()
        .map(|p| {
            let refs = graph
                .get(p)
                .map(|r| r.iter().filter(|x| set.contains(x)).cloned().collect());
            (p.clone(), refs.unwrap_or_default())
        })
        .collect();
    let mut order = super::topo_order(&sub);
    order.reverse();
    order
}

/// Bytes a tree occupies that deleting it would free (files with no other hard links).
fn disk_usage(path: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(path) else {
        return 0;
    };
    if md.is_dir() {
        let mut total = md.blocks() * 512;
        if let Ok(rd) = fs::read_dir(path) {
            for e in rd.flatten() {
                total += disk_usage(&e.path());
            }
        }
        total
    } else if md.nlink() > 1 && md.is_file() {
        0
    } else {
        md.blocks() * 512
    }
}
