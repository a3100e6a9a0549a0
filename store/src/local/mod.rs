//! The local store: store paths kept under a physical root, their metadata in SQLite.
//!
//! Layout under the physical root `R` (the same as a Nix "chroot store", so Nix itself can
//! open it with `--store R`):
//!
//! ```text
//! R/nix/store/<hash>-<name>         the paths (the logical store directory, under R)
//! R/nix/store/.links/               hard-link targets of `optimise`
//! R/nix/var/nix/db/db.sqlite        ValidPaths, Refs, DerivationOutputs (Nix schema 10)
//! R/nix/var/nix/gcroots/            GC roots; gcroots/auto/ holds indirect roots
//! R/nix/var/nix/profiles/           profiles and their generation links (also roots)
//! R/nix/var/nix/gc.lock             shared by adds and imports, exclusive for GC
//! ```
//!
//! A path is valid only once its row is committed, and a row is only committed after the
//! finished tree has been renamed into place, all inside one write transaction. So a process
//! killed at any moment leaves at worst an unregistered directory, which the next add of the
//! same path replaces and the next GC deletes.

mod files;
mod gc;
mod optimise;
mod sigs;
mod staging;

pub use files::{canonicalise, delete_tree, link_or_copy_tree, write_atomic};
pub(crate) use files::{canonicalise_times_only, remove_tree};
pub use gc::{GcOptions, GcResult};
pub use optimise::OptimiseStats;
#[cfg(test)]
use staging::temporary_owner;
use staging::FileLock;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::hash::{Hash, HashAlgo};
use crate::nar::{self, DumpError, NarError};
use crate::path::{PathError, StoreDir, StorePath};

/// Nix's database schema version; written to `db/schema` as Nix does.
pub const SCHEMA_VERSION: u32 = 10;

const SCHEMA: &str = "
create table if not exists ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer,
    ultimate         integer,
    sigs             text,
    ca               text
);
create table if not exists Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer) references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);
create index if not exists IndexReferrer on Refs(referrer);
create index if not exists IndexReference on Refs(reference);
create trigger if not exists DeleteSelfRefs before delete on ValidPaths
  begin
    delete from Refs where referrer = old.id and reference = old.id;
  end;
create table if not exists DerivationOutputs (
    drv  integer not null,
    id   text not null,
    path text not null,
    primary key (drv, id),
    foreign key (drv) references ValidPaths(id) on delete cascade
);
create index if not exists IndexDerivationOutputs on DerivationOutputs(path);
";

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{context} '{}': {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("store database error while {context}: {source}")]
    Db {
        context: &'static str,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Nar(#[from] NarError),
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error("path '{0}' is not valid in the store")]
    NotValid(String),
    #[error("path '{path}' refers to '{reference}', which is not valid in the store")]
    MissingReference { path: String, reference: String },
    #[error(
        "path '{path}' is corrupt: its NAR hash is {actual}, but the database records {expected}"
    )]
    HashMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("malformed export stream at byte {offset}: {problem}")]
    BadExport { offset: u64, problem: String },
    #[error("the store database at '{}' has schema version {found}, but strata knows version {SCHEMA_VERSION}", path.display())]
    Schema { path: PathBuf, found: String },
    #[error("'{}' is not a regular file, and a flat fixed-output path must be one (use --recursive for a tree)", .0.display())]
    NotRegularFile(PathBuf),
    #[error("cannot delete '{path}': {reason}")]
    CannotDelete { path: String, reason: String },
}

impl From<crate::fs::FsError> for StoreError {
    fn from(e: crate::fs::FsError) -> Self {
        StoreError::Io {
            context: e.context,
            path: e.path,
            source: e.source,
        }
    }
}

pub(crate) fn io_err(
    context: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io {
        context,
        path,
        source,
    }
}

pub(crate) fn db_err(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Db { context, source }
}

/// What the store knows about one valid path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    pub path: StorePath,
    pub nar_hash: Hash,
    pub nar_size: u64,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    /// Seconds since the epoch.
    pub registration_time: i64,
    pub ultimate: bool,
    pub sigs: Vec<String>,
    /// Content address, e.g. `fixed:r:sha256:<nix32>` or `text:sha256:<nix32>`.
    pub ca: Option<String>,
}

/// [`PathInfo`] as printed by `--json`, with absolute paths.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathInfoJson {
    pub path: String,
    pub nar_hash: String,
    pub nar_size: u64,
    pub references: Vec<String>,
    pub deriver: Option<String>,
    pub registration_time: i64,
    pub ultimate: bool,
    pub signatures: Vec<String>,
    pub ca: Option<String>,
}

/// The metadata an import or a NAR add brings along with the archive.
#[derive(Debug, Clone)]
pub struct NewPath {
    pub path: StorePath,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    pub ca: Option<String>,
    /// Whether this machine made the path (as opposed to receiving it from elsewhere).
    pub ultimate: bool,
}

/// The outcome of [`LocalStore::verify`].
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub checked: usize,
    /// Human-readable problems, one per corrupt or missing path.
    pub problems: Vec<String>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A local store rooted at a physical directory.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    store_dir: StoreDir,
    real_store: PathBuf,
    state_dir: PathBuf,
    db: Connection,
    /// Fixed registration time ([`LocalStore::set_registration_time`]).
    registration_time: Option<i64>,
}

impl LocalStore {
    /// Opens (creating if needed) the store whose files live under `root`, with the logical
    /// store directory `store_dir`.
    pub fn open(root: impl Into<PathBuf>, store_dir: StoreDir) -> Result<LocalStore, StoreError> {
        let root = root.into();
        let real_store = root.join(store_dir.as_str().trim_start_matches('/'));
        let state_dir = root.join("nix/var/nix");
        for d in [
            real_store.clone(),
            state_dir.join("db"),
            state_dir.join("gcroots/auto"),
            state_dir.join("profiles"),
            state_dir.join("temproots"),
            root.join("nix/var/log/nix/drvs"),
        ] {
            fs::create_dir_all(&d).map_err(io_err("cannot create store directory", &d))?;
        }
        // Handles opening a fresh root at once would race to switch the new database to WAL,
        // which SQLite refuses with "database is locked" without waiting; one at a time.
        let _open_lock = FileLock::take(&state_dir.join("db/open.lock"), true)?;
        let schema_file = state_dir.join("db/schema");
        match fs::read_to_string(&schema_file) {
            Ok(s) if s.trim() == SCHEMA_VERSION.to_string() => {}
            Ok(s) => {
                return Err(StoreError::Schema {
                    path: schema_file,
                    found: s.trim().to_owned(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot read", &schema_file)(e)),
        }
        let db_path = state_dir.join("db/db.sqlite");
        let db = Connection::open(&db_path).map_err(db_err("opening the database"))?;
        db.busy_timeout(std::time::Duration::from_secs(600))
            .map_err(db_err("setting the busy timeout"))?;
        db.pragma_update(None, "journal_mode", "wal")
            .map_err(db_err("enabling WAL"))?;
        db.pragma_update(None, "synchronous", "normal")
            .map_err(db_err("setting synchronous"))?;
        db.pragma_update(None, "foreign_keys", "on")
            .map_err(db_err("enabling foreign keys"))?;
        db.execute_batch(SCHEMA)
            .map_err(db_err("creating the schema"))?;
        if !schema_file.exists() {
            write_atomic(&schema_file, SCHEMA_VERSION.to_string().as_bytes())?;
        }
        let store = LocalStore {
            root,
            store_dir,
            real_store,
            state_dir,
            db,
            registration_time: None,
        };
        store.remove_stale_temporaries();
        Ok(store)
    }

    /// Copies `paths` with everything they refer to from `src` into this store, with their
    /// metadata (NAR hash and size, references, deriver, content address; not "ultimate").
    /// Files are hard-linked where both stores share a file system and copied otherwise; all
    /// paths are registered in one transaction, so either all or none become valid.
    pub fn copy_closure_from(
        &mut self,
        src: &LocalStore,
        paths: &[StorePath],
    ) -> Result<usize, StoreError> {
        let closure = src.closure(paths)?;
        let order = src.topo_sort(&closure)?;
        let mut staged = Vec::new();
        let res = (|| {
            for p in &order {
                if self.is_valid(p)? {
                    continue;
                }
                let info = src.require_info(p)?;
                let stage = self.new_staging_dir("copy")?;
                let tree = stage.join("t");
                link_or_copy_tree(&src.real_path(p), &tree)?;
                staged.push((
                    stage,
                    Staged {
                        stage: tree,
                        new: NewPath {
                            path: p.clone(),
                            references: info.references,
                            deriver: info.deriver,
                            ca: info.ca,
                            ultimate: false,
                        },
                        nar_hash: info.nar_hash,
                        nar_size: info.nar_size,
                    },
                ));
            }
            Ok(())
        })();
        let n = staged.len();
        let dirs: Vec<PathBuf> = staged.iter().map(|(d, _)| d.clone()).collect();
        let result = res.and_then(|()| {
            let _gc = self.gc_lock(false)?;
            self.install(staged.into_iter().map(|(_, s)| s).collect())
        });
        for d in dirs {
            remove_tree(&d);
        }
        result.map(|()| n)
    }

    pub fn store_dir(&self) -> &StoreDir {
        &self.store_dir
    }

    /// The physical root the store lives under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the logical store directory is on disk.
    pub fn real_store_dir(&self) -> &Path {
        &self.real_store
    }

    /// `R/nix/var/nix`.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Where `path` is on disk.
    pub fn real_path(&self, path: &StorePath) -> PathBuf {
        self.real_store.join(path.base_name())
    }

    /// The absolute logical path of `path`.
    pub fn print(&self, path: &StorePath) -> String {
        self.store_dir.display(path)
    }

    /// Parses an absolute logical store path, a physical one under this store's root, or a
    /// path below either, into the store path containing it.
    pub fn parse_path(&self, s: &str) -> Result<StorePath, PathError> {
        if let Ok(p) = self.store_dir.parse_containing(s) {
            return Ok(p);
        }
        if let Some(rest) = Path::new(s)
            .strip_prefix(&self.real_store)
            .ok()
            .and_then(|r| r.to_str())
        {
            let base = rest.split('/').next().unwrap_or_default();
            return StorePath::from_base_name(base);
        }
        self.store_dir.parse_containing(s)
    }

    pub(crate) fn gc_lock(&self, exclusive: bool) -> Result<FileLock, StoreError> {
        FileLock::take(&self.state_dir.join("gc.lock"), exclusive)
    }

    /// A fresh name in the store directory for staging a path before it is registered.
    pub(crate) fn temp_path(&self, what: &str) -> PathBuf {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.real_store
            .join(format!(".tmp-{what}-{}-{n}-{nanos}", std::process::id()))
    }

    // -----------------------------------------------------------------------------------------
    // Queries

    fn path_id(&self, path: &StorePath) -> Result<Option<i64>, StoreError> {
        self.db
            .prepare_cached("select id from ValidPaths where path = ?1")
            .and_then(|mut s| s.query_row([self.print(path)], |r| r.get(0)).optional())
            .map_err(db_err("looking up a path"))
    }

    pub fn is_valid(&self, path: &StorePath) -> Result<bool, StoreError> {
        Ok(self.path_id(path)?.is_some())
    }

    /// All valid paths.
    pub fn valid_paths(&self) -> Result<BTreeSet<StorePath>, StoreError> {
        let mut stmt = self
            .db
            .prepare_cached("select path from ValidPaths")
            .map_err(db_err("listing paths"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db_err("listing paths"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err("listing paths"))?;
        rows.iter().map(|p| Ok(self.store_dir.parse(p)?)).collect()
    }

    /// The metadata of `path`, or `None` if it is not valid.
    pub fn path_info(&self, path: &StorePath) -> Result<Option<PathInfo>, StoreError> {
        let row = self
            .db
            .prepare_cached(
                "select id, hash, registrationTime, deriver, narSize, ultimate, sigs, ca \
                 from ValidPaths where path = ?1",
            )
            .and_then(|mut s| {
                s.query_row([self.print(path)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                })
                .optional()
            })
            .map_err(db_err("reading path info"))?;
        let Some((id, hash, time, deriver, size, ultimate, sigs, ca)) = row else {
            return Ok(None);
        };
        let nar_hash = Hash::parse(&hash, Some(HashAlgo::Sha256)).map_err(|e| StoreError::Db {
            context: "reading a NAR hash",
            source: rusqlite::Error::InvalidColumnType(
                1,
                e.to_string(),
                rusqlite::types::Type::Text,
            ),
        })?;
        Ok(Some(PathInfo {
            path: path.clone(),
            nar_hash,
            nar_size: size.unwrap_or(0).max(0) as u64,
            references: self.references_of(id)?,
            deriver: deriver
                .filter(|d| !d.is_empty())
                .and_then(|d| self.store_dir.parse(&d).ok()),
            registration_time: time,
            ultimate: ultimate.unwrap_or(0) != 0,
            sigs: sigs
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            ca: ca.filter(|c| !c.is_empty()),
        }))
    }

    /// Like [`path_info`](Self::path_info) but an error when the path is not valid.
    pub fn require_info(&self, path: &StorePath) -> Result<PathInfo, StoreError> {
        self.path_info(path)?
            .ok_or_else(|| StoreError::NotValid(self.print(path)))
    }

    fn references_of(&self, id: i64) -> Result<BTreeSet<StorePath>, StoreError> {
        let mut stmt = self
            .db
            .prepare_cached("select v.path from Refs r join ValidPaths v on r.reference = v.id where r.referrer = ?1")
            .map_err(db_err("reading references"))?;
        let rows = stmt
            .query_map([id], |r| r.get::<_, String>(0))
            .map_err(db_err("reading references"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err("reading references"))?;
        rows.iter().map(|p| Ok(self.store_dir.parse(p)?)).collect()
    }

    /// The outputs recorded for a valid derivation (`nix-store -q --outputs`), by name.
    pub fn derivation_outputs(
        &self,
        drv: &StorePath,
    ) -> Result<BTreeMap<String, StorePath>, StoreError> {
        let mut stmt = self
            .db
            .prepare_cached(
                "select o.id, o.path from DerivationOutputs o join ValidPaths v on o.drv = v.id \
                 where v.path = ?1",
            )
            .map_err(db_err("reading derivation outputs"))?;
        let rows = stmt
            .query_map([self.print(drv)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db_err("reading derivation outputs"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err("reading derivation outputs"))?;
        rows.into_iter()
            .map(|(n, p)| Ok((n, self.store_dir.parse(&p)?)))
            .collect()
    }

    /// The paths that refer to `path`.
    pub fn referrers(&self, path: &StorePath) -> Result<BTreeSet<StorePath>, StoreError> {
        let mut stmt = self
            .db
            .prepare_cached(
                "select v.path from Refs r join ValidPaths v on r.referrer = v.id \
                 where r.reference = (select id from ValidPaths where path = ?1)",
            )
            .map_err(db_err("reading referrers"))?;
        let rows = stmt
            .query_map([self.print(path)], |r| r.get::<_, String>(0))
            .map_err(db_err("reading referrers"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err("reading referrers"))?;
        rows.iter().map(|p| Ok(self.store_dir.parse(p)?)).collect()
    }

    /// The whole reference graph: every valid path with its references.
    pub(crate) fn graph(&self) -> Result<BTreeMap<StorePath, BTreeSet<StorePath>>, StoreError> {
        let mut ids: HashMap<i64, StorePath> = HashMap::new();
        let mut stmt = self
            .db
            .prepare("select id, path from ValidPaths")
            .map_err(db_err("reading the graph"))?;
        let mut rows = stmt.query([]).map_err(db_err("reading the graph"))?;
        while let Some(r) = rows.next().map_err(db_err("reading the graph"))? {
            let id: i64 = r.get(0).map_err(db_err("reading the graph"))?;
            let p: String = r.get(1).map_err(db_err("reading the graph"))?;
            ids.insert(id, self.store_dir.parse(&p)?);
        }
        let mut g: BTreeMap<StorePath, BTreeSet<StorePath>> =
            ids.values().map(|p| (p.clone(), BTreeSet::new())).collect();
        let mut stmt = self
            .db
            .prepare("select referrer, reference from Refs")
            .map_err(db_err("reading the graph"))?;
        let mut rows = stmt.query([]).map_err(db_err("reading the graph"))?;
        while let Some(r) = rows.next().map_err(db_err("reading the graph"))? {
            let a: i64 = r.get(0).map_err(db_err("reading the graph"))?;
            let b: i64 = r.get(1).map_err(db_err("reading the graph"))?;
            if let (Some(pa), Some(pb)) = (ids.get(&a), ids.get(&b)) {
                if let Some(set) = g.get_mut(pa) {
                    set.insert(pb.clone());
                }
            }
        }
        Ok(g)
    }

    /// The closure of `paths` under references (the paths themselves included).
    pub fn closure(&self, paths: &[StorePath]) -> Result<BTreeSet<StorePath>, StoreError> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<StorePath> = paths.to_vec();
        while let Some(p) = todo.pop() {
            if seen.contains(&p) {
                continue;
            }
            let id = self
                .path_id(&p)?
                .ok_or_else(|| StoreError::NotValid(self.print(&p)))?;
            for r in self.references_of(id)? {
                if !seen.contains(&r) {
                    todo.push(r);
                }
            }
            seen.insert(p);
        }
        Ok(seen)
    }

    /// Orders `paths` so that every path comes after the paths it refers to (among `paths`).
    pub fn topo_sort(&self, paths: &BTreeSet<StorePath>) -> Result<Vec<StorePath>, StoreError> {
        let mut refs: BTreeMap<StorePath, BTreeSet<StorePath>> = BTreeMap::new();
        for p in paths {
            let info = self.require_info(p)?;
            refs.insert(p.clone(), info.references);
        }
        Ok(topo_order(&refs))
    }

    // -----------------------------------------------------------------------------------------
    // Adding

    /// `nix-store --add`: copies the tree at `src` into the store as a source path named
    /// `name` (by default its base name), with no references.
    pub fn add_path(&mut self, src: &Path, name: Option<&str>) -> Result<PathInfo, StoreError> {
        let name = source_name(src, name)?;
        let _gc = self.gc_lock(false)?;
        let (stage, nar_hash, nar_size) = self.stage_copy(src, "add")?;
        self.install_source(stage, &name, nar_hash, nar_size)
    }

    /// `nix-store --add-fixed [--recursive] ALGO PATH`: adds `src` as a fixed-output path,
    /// addressed by the `algo` hash of its contents (flat: `src` must be a regular file) or of
    /// its NAR serialisation (`recursive`). This is how fetched sources enter the store.
    pub fn add_fixed(
        &mut self,
        src: &Path,
        name: Option<&str>,
        algo: HashAlgo,
        recursive: bool,
    ) -> Result<PathInfo, StoreError> {
        let name = source_name(src, name)?;
        if !recursive {
            let md = fs::symlink_metadata(src).map_err(io_err("cannot stat", src))?;
            if !md.is_file() {
                return Err(StoreError::NotRegularFile(src.to_owned()));
            }
        }
        let _gc = self.gc_lock(false)?;
        let (stage, nar_hash, nar_size) = self.stage_copy(src, "fixed")?;
        let content_hash = match fixed_content_hash(&stage, algo, recursive, &nar_hash) {
            Ok(h) => h,
            Err(e) => {
                remove_tree(&stage);
                return Err(e);
            }
        };
        let path = self
            .store_dir
            .make_fixed_output_path(&name, recursive, &content_hash)?;
        let ca = format!("fixed:{}{content_hash}", if recursive { "r:" } else { "" });
        self.install_added(stage, path, BTreeSet::new(), ca, nar_hash, nar_size)
    }

    /// Like [`add_path`](Self::add_path), leaving out every entry `filter` rejects, as
    /// `builtins.filterSource` and `builtins.path { filter = ...; }` do.
    pub fn add_path_filtered(
        &mut self,
        src: &Path,
        name: &str,
        filter: nar::DumpFilter<'_>,
    ) -> Result<PathInfo, StoreError> {
        crate::path::validate_name(name)?;
        let _gc = self.gc_lock(false)?;
        let stage = self.temp_path("add");
        let mut hasher = nar::CountingHasher::new(HashAlgo::Sha256);
        if let Err(e) = nar::dump_and_copy_filtered(src, &mut hasher, &stage, filter) {
            remove_tree(&stage);
            return Err(e.into());
        }
        let (nar_hash, nar_size) = hasher.finish();
        self.install_source(stage, name, nar_hash, nar_size)
    }

    /// Copies `src` into the staging area while hashing its NAR; nothing is left staged on
    /// failure.
    fn stage_copy(&self, src: &Path, what: &str) -> Result<(PathBuf, Hash, u64), StoreError> {
        let stage = self.temp_path(what);
        match nar::hash_pipelined(HashAlgo::Sha256, |out| nar::dump_and_copy(src, out, &stage)) {
            Ok((nar_hash, nar_size)) => Ok((stage, nar_hash, nar_size)),
            Err(e) => {
                remove_tree(&stage);
                Err(e.into())
            }
        }
    }

    /// Installs a staged tree as the source path `name` of its NAR hash (no references).
    fn install_source(
        &mut self,
        stage: PathBuf,
        name: &str,
        nar_hash: Hash,
        nar_size: u64,
    ) -> Result<PathInfo, StoreError> {
        let path = self
            .store_dir
            .make_source_path(name, &nar_hash, &BTreeSet::new(), false)?;
        let ca = format!("fixed:r:{nar_hash}");
        self.install_added(stage, path, BTreeSet::new(), ca, nar_hash, nar_size)
    }

    /// Installs one staged path added by the user (no deriver, content address `ca`) and
    /// returns what the store now knows of it.
    fn install_added(
        &mut self,
        stage: PathBuf,
        path: StorePath,
        references: BTreeSet<StorePath>,
        ca: String,
        nar_hash: Hash,
        nar_size: u64,
    ) -> Result<PathInfo, StoreError> {
        let new = NewPath {
            path: path.clone(),
            references,
            deriver: None,
            ca: Some(ca),
            ultimate: true,
        };
        self.install(vec![Staged {
            stage,
            new,
            nar_hash,
            nar_size,
        }])?;
        self.require_info(&path)
    }

    /// `builtins.toFile` / `nix-store --add` of a text: a flat file with the given references.
    pub fn add_text(
        &mut self,
        name: &str,
        contents: &[u8],
        references: &BTreeSet<StorePath>,
    ) -> Result<PathInfo, StoreError> {
        let sha = Hash::of(HashAlgo::Sha256, contents);
        let path = self.store_dir.make_text_path(name, &sha, references)?;
        // Taken before the validity check too: answering while a GC runs could hand back a
        // path that the GC already found dead and is about to delete.
        let _gc = self.gc_lock(false)?;
        if let Some(info) = self.path_info(&path)? {
            return Ok(info);
        }
        let stage = self.temp_path("text");
        fs::write(&stage, contents).map_err(io_err("cannot write", &stage))?;
        let (nar_hash, nar_size) = match nar::hash_path(&stage, HashAlgo::Sha256) {
            Ok(h) => h,
            Err(e) => {
                remove_tree(&stage);
                return Err(e.into());
            }
        };
        let ca = format!("text:{sha}");
        self.install_added(stage, path, references.clone(), ca, nar_hash, nar_size)
    }

    /// A shared hold on the GC lock for as long as the value lives, so that no collection
    /// deletes a build's inputs or its staging directory while it runs.
    pub fn gc_hold(&self) -> Result<GcHold, StoreError> {
        Ok(GcHold {
            _lock: self.gc_lock(false)?,
        })
    }

    /// Creates a fresh, empty staging directory inside the physical store directory (so its
    /// entries can later be renamed into place). Nothing in it is valid; GC deletes it unless
    /// a [`GcHold`] is held.
    pub fn new_staging_dir(&self, what: &str) -> Result<PathBuf, StoreError> {
        let dir = self.temp_path(what);
        fs::create_dir(&dir).map_err(io_err("cannot create", &dir))?;
        Ok(dir)
    }

    /// Registers the outputs of a build: each `tree` (which must lie in the physical store
    /// directory, e.g. in a [`new_staging_dir`](Self::new_staging_dir)) is canonicalised and,
    /// in one write transaction with all the others, renamed to its final path and
    /// registered with its references, deriver and NAR hash. Either every output becomes
    /// valid or none does; the trees are gone afterwards in both cases.
    pub fn register_built_outputs(&mut self, outputs: Vec<BuiltOutput>) -> Result<(), StoreError> {
        let _gc = self.gc_lock(false)?;
        let staged = outputs
            .into_iter()
            .map(|o| Staged {
                stage: o.tree,
                new: NewPath {
                    path: o.path,
                    references: o.references,
                    deriver: o.deriver,
                    ca: o.ca,
                    ultimate: true,
                },
                nar_hash: o.nar_hash,
                nar_size: o.nar_size,
            })
            .collect();
        self.install(staged)
    }

    /// Installs staged trees as valid paths: canonicalises them, then, in one write
    /// transaction, moves each into place and registers it. Paths that are valid already are
    /// left alone and their staged copies deleted. Either every path in `staged` ends up valid
    /// or none does.
    pub(crate) fn install(&mut self, staged: Vec<Staged>) -> Result<(), StoreError> {
        let result = self.install_inner(&staged);
        for s in &staged {
            // Gone already if it was moved into place.
            remove_tree(&s.stage);
        }
        result
    }

    fn install_inner(&mut self, staged: &[Staged]) -> Result<(), StoreError> {
        for s in staged {
            canonicalise(&s.stage)?;
        }
        let now = self.registration_time.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
        let store_dir = self.store_dir.clone();
        let real_store = self.real_store.clone();
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err("starting a transaction"))?;
        let incoming: BTreeSet<&StorePath> = staged.iter().map(|s| &s.new.path).collect();
        let mut moved: Vec<PathBuf> = Vec::new();
        let outcome = (|| -> Result<(), StoreError> {
            for s in staged {
                let abs = store_dir.display(&s.new.path);
                let exists: Option<i64> = tx
                    .query_row("select id from ValidPaths where path = ?1", [&abs], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(db_err("looking up a path"))?;
                if exists.is_some() {
                    continue;
                }
                for r in &s.new.references {
                    if *r == s.new.path || incoming.contains(r) {
                        continue;
                    }
                    let ok: Option<i64> = tx
                        .query_row(
                            "select id from ValidPaths where path = ?1",
                            [store_dir.display(r)],
                            |x| x.get(0),
                        )
                        .optional()
                        .map_err(db_err("looking up a reference"))?;
                    if ok.is_none() {
                        return Err(StoreError::MissingReference {
                            path: abs,
                            reference: store_dir.display(r),
                        });
                    }
                }
                let dest = real_store.join(s.new.path.base_name());
                // Left over by a process that died before it could register the path.
                if fs::symlink_metadata(&dest).is_ok() {
                    tracing::debug!(path = %dest.display(), "replacing an unregistered leftover");
                    delete_tree(&dest)?;
                }
                fs::rename(&s.stage, &dest).map_err(io_err("cannot move into the store", &dest))?;
                moved.push(dest);
                tx.execute(
                    "insert into ValidPaths (path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca) \
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        abs,
                        format!("sha256:{}", s.nar_hash.to_base16()),
                        now,
                        s.new.deriver.as_ref().map(|d| store_dir.display(d)),
                        s.nar_size as i64,
                        i64::from(s.new.ultimate),
                        Option::<String>::None,
                        s.new.ca,
                    ],
                )
                .map_err(db_err("registering a path"))?;
                // As Nix does, a derivation's outputs are recorded with it, so queries can go
                // from a .drv to its outputs without parsing it.
                if s.new.path.name().ends_with(".drv") {
                    let dest = real_store.join(s.new.path.base_name());
                    if let Some(drv) = fs::read_to_string(&dest)
                        .ok()
                        .and_then(|t| crate::derivation::Derivation::parse(&t).ok())
                    {
                        for (name, out) in &drv.outputs {
                            tx.execute(
                                "insert or replace into DerivationOutputs (drv, id, path) \
                                 select id, ?2, ?3 from ValidPaths where path = ?1",
                                params![abs, name, out.path],
                            )
                            .map_err(db_err("registering derivation outputs"))?;
                        }
                    }
                }
            }
            // References last, so that paths in one batch may refer to each other.
            for s in staged {
                for r in &s.new.references {
                    tx.execute(
                        "insert or ignore into Refs (referrer, reference) select a.id, b.id \
                         from ValidPaths a, ValidPaths b where a.path = ?1 and b.path = ?2",
                        params![store_dir.display(&s.new.path), store_dir.display(r)],
                    )
                    .map_err(db_err("registering references"))?;
                }
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => tx.commit().map_err(db_err("committing new paths")),
            Err(e) => {
                drop(tx);
                // Nothing was registered; take the moved trees out again.
                for m in moved {
                    let _ = delete_tree(&m);
                }
                Err(e)
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Reading paths back

    /// Writes the NAR of a valid path.
    pub fn dump(&self, path: &StorePath, out: &mut impl io::Write) -> Result<(), StoreError> {
        if !self.is_valid(path)? {
            return Err(StoreError::NotValid(self.print(path)));
        }
        nar::dump(&self.real_path(path), out)?;
        Ok(())
    }

    /// Re-hashes every valid path (or only `only`) and compares with the database.
    pub fn verify(&self, only: Option<&[StorePath]>) -> Result<VerifyReport, StoreError> {
        let paths: Vec<StorePath> = match only {
            Some(p) => p.to_vec(),
            None => self.valid_paths()?.into_iter().collect(),
        };
        let mut report = VerifyReport::default();
        for p in paths {
            report.checked += 1;
            let Some(info) = self.path_info(&p)? else {
                report
                    .problems
                    .push(format!("'{}' is not valid in the store", self.print(&p)));
                continue;
            };
            let real = self.real_path(&p);
            if fs::symlink_metadata(&real).is_err() {
                report.problems.push(format!(
                    "'{}' is registered but missing on disk",
                    self.print(&p)
                ));
                continue;
            }
            match nar::hash_path(&real, HashAlgo::Sha256) {
                Ok((h, size)) => {
                    if h != info.nar_hash {
                        report.problems.push(format!(
                            "'{}' was modified: its NAR hash is {}, but the database records {}",
                            self.print(&p),
                            h.to_sri(),
                            info.nar_hash.to_sri()
                        ));
                    } else if size != info.nar_size {
                        report.problems.push(format!(
                            "'{}' has NAR size {size}, but the database records {}",
                            self.print(&p),
                            info.nar_size
                        ));
                    }
                }
                Err(e) => report
                    .problems
                    .push(format!("'{}' cannot be read: {e}", self.print(&p))),
            }
            for r in &info.references {
                if fs::symlink_metadata(self.real_path(r)).is_err() {
                    report.problems.push(format!(
                        "'{}' refers to '{}', which is missing on disk",
                        self.print(&p),
                        self.print(r)
                    ));
                }
            }
        }
        Ok(report)
    }

    /// The JSON form of `info`.
    pub fn info_json(&self, info: &PathInfo) -> PathInfoJson {
        PathInfoJson {
            path: self.print(&info.path),
            nar_hash: info.nar_hash.to_sri(),
            nar_size: info.nar_size,
            references: info.references.iter().map(|r| self.print(r)).collect(),
            deriver: info.deriver.as_ref().map(|d| self.print(d)),
            registration_time: info.registration_time,
            ultimate: info.ultimate,
            signatures: info.sigs.clone(),
            ca: info.ca.clone(),
        }
    }

    /// [`add_path`](Self::add_path) and then [`add_indirect_root`](Self::add_indirect_root),
    /// with the GC lock held across both, so no collection can delete the new path before
    /// its root exists.
    pub fn add_path_rooted(
        &mut self,
        src: &Path,
        name: Option<&str>,
        link: &Path,
    ) -> Result<PathInfo, StoreError> {
        let _hold = self.gc_lock(false)?;
        let info = self.add_path(src, name)?;
        self.add_indirect_root(link, &info.path)?;
        Ok(info)
    }

    /// Makes `link` (outside the store) a symlink to `path` and registers it as an indirect GC
    /// root, as `nix-store --add-root` does.
    pub fn add_indirect_root(&self, link: &Path, path: &StorePath) -> Result<(), StoreError> {
        let link = std::path::absolute(link).map_err(io_err("cannot resolve", link))?;
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = link.with_file_name(format!(
            ".{}.tmp-{}-{n}",
            link.file_name().and_then(|n| n.to_str()).unwrap_or("root"),
            std::process::id()
        ));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(self.print(path), &tmp)
            .map_err(io_err("cannot create", &tmp))?;
        fs::rename(&tmp, &link).map_err(io_err("cannot create", &link))?;
        let key = Hash::of(HashAlgo::Sha256, link.as_os_str().as_encoded_bytes());
        let auto = self
            .state_dir
            .join("gcroots/auto")
            .join(&key.to_nix32()[..32]);
        let tmp = auto.with_extension(format!("tmp-{}-{n}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&link, &tmp).map_err(io_err("cannot create", &tmp))?;
        fs::rename(&tmp, &auto).map_err(io_err("cannot create", &auto))?;
        Ok(())
    }
}

/// A shared hold on the GC lock (see [`LocalStore::gc_hold`]).
#[derive(Debug)]
pub struct GcHold {
    _lock: FileLock,
}

/// One built output for [`LocalStore::register_built_outputs`].
#[derive(Debug, Clone)]
pub struct BuiltOutput {
    /// The finished tree, in the physical store directory.
    pub tree: PathBuf,
    pub path: StorePath,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    pub ca: Option<String>,
    /// The NAR hash (SHA-256) and size of `tree` after canonicalisation.
    pub nar_hash: Hash,
    pub nar_size: u64,
}

/// A tree staged in the store directory, waiting to be installed.
#[derive(Debug)]
pub(crate) struct Staged {
    pub stage: PathBuf,
    pub new: NewPath,
    pub nar_hash: Hash,
    pub nar_size: u64,
}

/// Orders a graph so that references come before their referrers; ties by path name.
/// The hash a fixed output at `path` is addressed by: the `algo` hash of its NAR serialisation
/// (`recursive`; `nar_sha256` is that NAR's SHA-256, reused when `algo` is SHA-256) or of the
/// regular file's contents (flat).
pub fn fixed_content_hash(
    path: &Path,
    algo: HashAlgo,
    recursive: bool,
    nar_sha256: &Hash,
) -> Result<Hash, StoreError> {
    if recursive {
        if algo == HashAlgo::Sha256 {
            Ok(nar_sha256.clone())
        } else {
            Ok(nar::hash_path(path, algo)?.0)
        }
    } else {
        let mut h = crate::hash::Hasher::new(algo);
        fs::File::open(path)
            .and_then(|mut f| io::copy(&mut f, &mut h))
            .map(|_| h.finish())
            .map_err(io_err("cannot read", path))
    }
}

/// A source path's name: `name`, or else the base name of `src`; validated.
fn source_name(src: &Path, name: Option<&str>) -> Result<String, StoreError> {
    let name = match name {
        Some(n) => n.to_owned(),
        None => src
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| PathError::BadBaseName(src.display().to_string()))?
            .to_owned(),
    };
    crate::path::validate_name(&name)?;
    Ok(name)
}

pub(crate) fn topo_order(refs: &BTreeMap<StorePath, BTreeSet<StorePath>>) -> Vec<StorePath> {
    let mut out = Vec::with_capacity(refs.len());
    let mut done: BTreeSet<&StorePath> = BTreeSet::new();
    let mut on_stack: BTreeSet<&StorePath> = BTreeSet::new();
    for start in refs.keys() {
        if done.contains(start) {
            continue;
        }
        // Iterative depth-first post-order.
        let mut stack: Vec<(&StorePath, Vec<&StorePath>)> =
            vec![(start, refs[start].iter().collect())];
        on_stack.insert(start);
        while let Some((node, children)) = stack.last_mut() {
            let node = *node;
            match children.pop() {
                Some(c)
                    if c != node
                        && refs.contains_key(c)
                        && !done.contains(c)
                        && !on_stack.contains(c) =>
                {
                    on_stack.insert(c);
                    stack.push((c, refs[c].iter().collect()));
                }
                Some(_) => {}
                None => {
                    stack.pop();
                    on_stack.remove(node);
                    done.insert(node);
                    out.push(node.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
