//! A whole system: from `configuration.nix` and `strata.lock` to the toplevel in the store.
//!
//! [`build_system`] runs the steps in order:
//!
//! 1. evaluate the package set (`modules/pkgs/default.nix` applied to the lock's digest, which
//!    is made from the pinned indexes if the store lacks it) and the configuration with it (`modules/eval-config.nix`), writing every `.drv` into the store;
//! 2. build what the manifest refers to (system packages, `/etc` sources, scripts), found in
//!    the manifest's string context, and check `time.timeZone` against the zone database
//!    `/etc/zoneinfo` links to;
//! 3. make the parts that come from strata's own code: the static `/etc` tree and the
//!    activation manifest ([`crate::toplevel`]), and strata itself ([`StrataSelf`]): the
//!    static `strata` and `strata-init`, the module library, the lock and its digest, under
//!    `share/strata/`;
//! 4. evaluate `modules/system/toplevel.nix`, whose two derivations have builtin builders
//!    ([`crate::builtins::initrd`], [`crate::builtins::toplevel`]), and build the toplevel with everything it
//!    needs (the kernel is fetched and unpacked here), in parallel;
//! 5. optionally link `result` to it as a GC root, all while holding off the garbage
//!    collector.
//!
//! Every step skips what is valid already, so a rebuild of an unchanged configuration builds
//! nothing and gives the same path.
//!
//! The derivations of step 4 have builtin builders: [`crate::builtins::initrd`] and
//! [`crate::builtins::toplevel`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use strata_lang::value::{intern, Attrs, ContextElem, Value};
use strata_lang::{EvalError, Evaluator};
use strata_store::{LocalStore, StoreDir, StoreError, StorePath};

use crate::config::{self, ConfigError};
use crate::debian::lock::LockFile;
use crate::eval_io::StoreIo;
use crate::eval_thread::{self, EvalThreadError};
use crate::scheduler::{realise_all, Progress, SchedulerError, SchedulerOptions};
use crate::toplevel::{self, ToplevelError};

/// Why a system could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Eval(String),
    #[error(transparent)]
    Build(#[from] SchedulerError),
    #[error(transparent)]
    Toplevel(#[from] ToplevelError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Strata(String),
    #[error("cannot write what the evaluation added to the store: {0}")]
    Commit(#[from] crate::eval_io::CommitError),
}

fn io_ctx(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SystemError {
    let context = context.into();
    move |source| SystemError::Io { context, source }
}

/// The strata that goes into every system: its two static programs and its module library.
#[derive(Debug, Clone)]
pub struct StrataSelf {
    /// The `strata` program.
    pub strata: PathBuf,
    /// The `strata-init` program.
    pub init: PathBuf,
    /// The module library (`modules/`).
    pub modules: PathBuf,
}

impl StrataSelf {
    /// The running `strata`, the `strata-init` beside it (or `STRATA_INIT`) and the module
    /// library [`config::modules_dir`] finds.
    pub fn locate() -> Result<StrataSelf, SystemError> {
        let strata =
            std::env::current_exe().map_err(io_ctx("cannot find the running strata program"))?;
        let init = match std::env::var_os("STRATA_INIT").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => strata.with_file_name("strata-init"),
        };
        if !init.is_file() {
            return Err(SystemError::Strata(format!(
                "cannot find strata-init at '{}' (build it with `cargo build -p strata-cli`, or \
                 set STRATA_INIT)",
                init.display()
            )));
        }
        let modules = config::modules_dir().ok_or_else(|| {
            SystemError::Strata("cannot find strata's module library (set STRATA_MODULES)".into())
        })?;
        Ok(StrataSelf {
            strata,
            init,
            modules,
        })
    }
}

/// What [`build_system`] needs besides the store.
pub struct SystemInputs<'a> {
    pub configuration: &'a Path,
    pub lock: &'a LockFile,
    /// Where the lock was read from: a digest shipped beside it (`debian-digest`, as every
    /// system's strata has) is used when the store lacks the lock's digest.
    pub lock_file: Option<&'a Path>,
    pub strata: &'a StrataSelf,
    /// Make this a symlink to the toplevel and a GC root (like `nix-build`'s `result`).
    pub out_link: Option<&'a Path>,
    /// Modules of strata's option set evaluated with the configuration, relative to the
    /// module directory (`profiles/live-iso.nix` makes the live system of an ISO image).
    pub profiles: &'a [&'a str],
    /// Builds elsewhere (`--build-host`): called with the derivations before each
    /// realisation here, it must leave their outputs valid in this store, so that nothing is
    /// built here; an error stops the build.
    pub build_elsewhere: Option<&'a BuildElsewhere<'a>>,
    /// Evaluate purely (a flake's machine without `--impure`): see [`crate::eval_io::Pure`].
    pub pure: Option<&'a crate::eval_io::Pure>,
}

impl std::fmt::Debug for SystemInputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemInputs")
            .field("configuration", &self.configuration)
            .field("lock_file", &self.lock_file)
            .field("out_link", &self.out_link)
            .field("profiles", &self.profiles)
            .field("build_elsewhere", &self.build_elsewhere.is_some())
            .field("pure", &self.pure)
            .finish_non_exhaustive()
    }
}

/// See [`SystemInputs::build_elsewhere`].
pub type BuildElsewhere<'a> = dyn Fn(&[StorePath]) -> Result<(), ElsewhereError> + Sync + 'a;

/// Why the builds elsewhere failed, in the words of whoever made them.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ElsewhereError(pub String);

/// Realises `drvs` here, after [`SystemInputs::build_elsewhere`] if there is one.
fn realise_here_or_elsewhere(
    store_root: &Path,
    store_dir: &StoreDir,
    drvs: &[StorePath],
    inputs: &SystemInputs<'_>,
    opts: &SchedulerOptions,
) -> Result<BTreeMap<StorePath, BTreeMap<String, StorePath>>, SystemError> {
    if let Some(elsewhere) = inputs.build_elsewhere {
        elsewhere(drvs).map_err(|e| SystemError::Strata(e.0))?;
    }
    Ok(realise_all(store_root, store_dir, drvs, opts)?)
}

/// A built system.
#[derive(Debug, Clone)]
pub struct SystemBuild {
    /// The toplevel's store path.
    pub toplevel: StorePath,
    /// Its derivation.
    pub drv: StorePath,
    /// How many derivations were built (0 for a no-op rebuild).
    pub built: usize,
    /// How many store paths binary caches gave.
    pub substituted: usize,
    /// The configuration's warnings.
    pub warnings: Vec<String>,
}

/// Builds the system `inputs.configuration` describes; see the module documentation. Runs on
/// a thread of its own with the evaluator's stack ([`crate::eval_thread`]).
pub fn build_system(
    store_root: &Path,
    store_dir: &StoreDir,
    inputs: &SystemInputs<'_>,
    opts: &SchedulerOptions,
) -> Result<SystemBuild, SystemError> {
    eval_thread::run("build-system", || {
        build_system_here(store_root, store_dir, inputs, opts)
    })
    .map_err(|e| match e {
        EvalThreadError::Spawn(source) => SystemError::Io {
            context: "cannot start the evaluation thread".into(),
            source,
        },
        EvalThreadError::Panicked => SystemError::Strata("the system build panicked".into()),
    })?
}

fn build_system_here(
    store_root: &Path,
    store_dir: &StoreDir,
    inputs: &SystemInputs<'_>,
    opts: &SchedulerOptions,
) -> Result<SystemBuild, SystemError> {
    let mut store = LocalStore::open(store_root, store_dir.clone())?;
    // Held until the result link is a root: nothing made here is collected meanwhile.
    let _hold = store.gc_hold()?;
    let modules = &inputs.strata.modules;
    let configuration = std::path::absolute(inputs.configuration).map_err(io_ctx(format!(
        "cannot resolve '{}'",
        inputs.configuration.display()
    )))?;
    if !configuration.is_file() {
        return Err(SystemError::Strata(format!(
            "the configuration '{}' does not exist",
            configuration.display()
        )));
    }

    // Count the builds while passing progress on.
    let built = Arc::new(AtomicUsize::new(0));
    let mut opts = opts.clone();
    let outer = opts.progress.take();
    let counter = built.clone();
    opts.progress = Some(Arc::new(move |p: &Progress<'_>| {
        if let Progress::Started { .. } = p {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(cb) = &outer {
            cb(p);
        }
    }));
    let substituted = Arc::new(AtomicUsize::new(0));
    if let Some(outer) = opts.on_substitute.take() {
        let counter = substituted.clone();
        opts.on_substitute = Some(Arc::new(move |e: &strata_store::cache::Event<'_>| {
            if let strata_store::cache::Event::Substituted { .. } = e {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            outer(e);
        }));
    }

    // Nothing the evaluation adds reaches the store until the configuration has evaluated and
    // its assertions hold: a refused configuration leaves the store as it was.
    let io = Rc::new(
        StoreIo::deferred(LocalStore::open(store_root, store_dir.clone())?)
            .with_purity(inputs.pure.cloned()),
    );
    let cfg = eval_thread::eval_config();
    let mut ev = Evaluator::new(cfg, io.clone());
    ev.reset_stack_base();
    let eval_err = |ev: &Evaluator, e: EvalError| {
        let text = e.render(&ev.sources);
        SystemError::Eval(text.trim_end().trim_start_matches("error: ").to_owned())
    };

    // 1. The package set and the configuration.
    let mut extra = Vec::new();
    for p in inputs.profiles {
        let m = modules.join(p);
        if !m.is_file() {
            return Err(SystemError::Strata(format!(
                "strata's module {} is missing (the module directory {} is incomplete)",
                m.display(),
                modules.display()
            )));
        }
        extra.push(m);
    }
    let digest = load_digest_for_build(&mut store, inputs.lock, inputs.lock_file, &opts)?;
    let pkgs = crate::pkgs::eval_pkgs(&mut ev, modules, inputs.lock, &digest)
        .map_err(|e| eval_err(&ev, e))?;
    let (evaluated, whole, context) =
        config::evaluate_with(&mut ev, modules, &configuration, &extra, Some(pkgs))?;
    io.commit()?;

    // 2. What the manifest refers to.
    let mut prerequisites = BTreeSet::new();
    for c in &context {
        match c {
            ContextElem::AllOutputs(drv) | ContextElem::Output { drv, .. } => {
                prerequisites.insert(store.parse_path(drv).map_err(StoreError::from)?);
            }
            ContextElem::Plain(_) => {}
        }
    }
    let prerequisites: Vec<StorePath> = prerequisites.into_iter().collect();
    let prereq_outputs = if prerequisites.is_empty() {
        BTreeMap::new()
    } else {
        realise_here_or_elsewhere(store_root, store_dir, &prerequisites, inputs, &opts)?
    };

    // 3. strata's own parts.
    let config = &evaluated.config;
    if let Some(tz) = &config.time_zone {
        check_time_zone(&store, config, tz)?;
    }
    let etc = toplevel::build_etc(&mut store, config)?;
    let mut manifest = toplevel::make_manifest(config, &etc.entries)?;
    manifest.wrappers = crate::wrappers::check(&store, config)?;
    let manifest_json = manifest.to_json();
    let mut manifest_refs: BTreeSet<StorePath> = BTreeSet::new();
    let mut candidates: Vec<StorePath> = vec![etc.path.clone()];
    for c in &context {
        if let ContextElem::Plain(p) = c {
            candidates.push(store.parse_path(p).map_err(StoreError::from)?);
        }
    }
    for outs in prereq_outputs.values() {
        candidates.extend(outs.values().cloned());
    }
    for e in &etc.entries {
        if let Ok(p) = store_dir.parse_containing(&e.source) {
            candidates.push(p);
        }
    }
    for p in candidates {
        if manifest_json.contains(p.hash_part()) {
            manifest_refs.insert(p);
        }
    }
    let manifest_path = store
        .add_text("activation.json", manifest_json.as_bytes(), &manifest_refs)?
        .path;
    let strata_path = add_strata(&mut store, inputs.strata, inputs.lock, &digest)?;

    // 4. The initrd and the toplevel.
    let f = ev
        .eval_string(&format!(
            "import {}",
            config::nix_string(&modules.join("system/toplevel.nix").display().to_string())
        ))
        .map_err(|e| eval_err(&ev, e))?;
    let arg = Value::attrs(Attrs::from_unsorted(vec![
        (intern("evaluated"), whole),
        (intern("etc"), Value::str(store.print(&etc.path))),
        (intern("manifest"), Value::str(store.print(&manifest_path))),
        (intern("strata"), Value::str(store.print(&strata_path))),
    ]));
    let top = ev
        .call(&f, arg, config::span())
        .map_err(|e| eval_err(&ev, e))?;
    let drv = crate::pkgs::drv_path(&mut ev, &top, &[]).map_err(|e| eval_err(&ev, e))?;
    let drv = store.parse_path(&drv).map_err(StoreError::from)?;
    let outputs = realise_here_or_elsewhere(
        store_root,
        store_dir,
        std::slice::from_ref(&drv),
        inputs,
        &opts,
    )?;
    let toplevel = outputs
        .get(&drv)
        .and_then(|o| o.get("out"))
        .cloned()
        .ok_or_else(|| SystemError::Strata("the toplevel derivation has no output 'out'".into()))?;

    // 5. The result link.
    if let Some(link) = inputs.out_link {
        store.add_indirect_root(link, &toplevel)?;
    }
    Ok(SystemBuild {
        toplevel,
        drv,
        built: built.load(Ordering::Relaxed),
        substituted: substituted.load(Ordering::Relaxed),
        warnings: evaluated.warnings,
    })
}

/// The file name of the digest beside a lock (`share/strata/debian-digest` in every system).
pub const DIGEST_BESIDE_LOCK: &str = "debian-digest";

/// The lock's digest in the store: valid already, else the one shipped beside `lock_file` or
/// beside strata's own lock (if its sha256 is the lock's), else made from the pinned indexes
/// fetched from `mirror` (the archive's base URL). Returns its text.
pub fn load_digest(
    store: &mut LocalStore,
    lock: &LockFile,
    lock_file: Option<&Path>,
    mirror: Option<String>,
) -> Result<String, SystemError> {
    read_digest(store, lock, lock_file, mirror, None)
}

/// [`load_digest`] for a build: the archive is `opts`' mirror, and before the pinned indexes
/// are fetched from it, the binary caches `opts` names are asked for the digest (a store path
/// the lock determines), so a machine building from a cache needs no index either.
pub fn load_digest_for_build(
    store: &mut LocalStore,
    lock: &LockFile,
    lock_file: Option<&Path>,
    opts: &crate::scheduler::SchedulerOptions,
) -> Result<String, SystemError> {
    let mirror = opts.build.debian_mirror.clone();
    read_digest(store, lock, lock_file, mirror, Some(opts))
}

fn read_digest(
    store: &mut LocalStore,
    lock: &LockFile,
    lock_file: Option<&Path>,
    mirror: Option<String>,
    caches: Option<&crate::scheduler::SchedulerOptions>,
) -> Result<String, SystemError> {
    let path = ensure_digest(store, lock, lock_file, mirror, caches)?;
    let file = store.real_path(&path);
    fs::read_to_string(&file).map_err(io_ctx(format!(
        "cannot read the Debian digest '{}'",
        file.display()
    )))
}

fn ensure_digest(
    store: &mut LocalStore,
    lock: &LockFile,
    lock_file: Option<&Path>,
    mirror: Option<String>,
    caches: Option<&crate::scheduler::SchedulerOptions>,
) -> Result<StorePath, SystemError> {
    use crate::debian::archive::{self, Archive, ArchiveError};
    let digest_err = |e: ArchiveError| SystemError::Strata(format!("the Debian digest: {e}"));
    let path = archive::digest_store_path(store, lock).map_err(digest_err)?;
    if store.is_valid(&path)? {
        return Ok(path);
    }
    // Beside the lock, then beside strata's own lock (`share/strata/` of the running strata,
    // which every system carries): a machine whose configuration's lock is strata's own, or a
    // copy of it, needs no archive.
    let shipped =
        crate::config::modules_dir().and_then(|m| m.parent().map(|p| p.join(DIGEST_BESIDE_LOCK)));
    let candidates = lock_file
        .map(|l| l.with_file_name(DIGEST_BESIDE_LOCK))
        .into_iter()
        .chain(shipped);
    for beside in candidates.filter(|p| p.is_file()) {
        let bytes =
            fs::read(&beside).map_err(io_ctx(format!("cannot read '{}'", beside.display())))?;
        if crate::debian::lock::sha256_hex(&bytes) == lock.digest {
            return archive::add_digest(store, lock, &bytes).map_err(digest_err);
        }
        tracing::info!(file = %beside.display(), "this digest is not the lock's");
    }
    // A binary cache that has it (its path is the lock's; the cache's signature and the NAR
    // hash are checked as for any path). A cache that cannot give it is no error: the digest
    // is made from the indexes instead.
    if let Some(opts) = caches {
        if let Some(sub) = &opts.substituter {
            let on_event = |e: strata_store::cache::Event<'_>| {
                if let Some(f) = &opts.on_substitute {
                    f(&e);
                }
            };
            match sub.substitute(store, std::slice::from_ref(&path), &on_event) {
                Ok(_) if store.is_valid(&path)? => return Ok(path),
                Ok(_) => {}
                Err(e) => tracing::warn!("the Debian digest from the caches: {e}"),
            }
        }
    }
    archive::ensure_digest(store, lock, || {
        let base = mirror.ok_or(ArchiveError::NoArchive)?;
        Archive::configure(
            Some(&base),
            Some(&lock.suite),
            &lock.architecture,
            Path::new("/"),
        )
    })
    .map_err(digest_err)
}

/// Adds strata itself: `bin/strata`, `bin/strata-init`, `share/strata/modules/` (the module
/// library without its tests), `share/strata/strata.lock` and the lock's digest beside it
/// (`share/strata/debian-digest`, so a machine evaluates its own configuration offline), as one
/// content-addressed path named `strata-<version>`.
pub fn add_strata(
    store: &mut LocalStore,
    me: &StrataSelf,
    lock: &LockFile,
    digest: &str,
) -> Result<StorePath, SystemError> {
    let tmp = tempfile::Builder::new()
        .prefix("strata-self")
        .tempdir()
        .map_err(io_ctx("cannot create a temporary directory"))?;
    let root = tmp.path().join("strata");
    let bin = root.join("bin");
    let share = root.join("share/strata");
    fs::create_dir_all(&bin).map_err(io_ctx(format!("cannot create '{}'", bin.display())))?;
    fs::create_dir_all(&share).map_err(io_ctx(format!("cannot create '{}'", share.display())))?;
    for (src, name) in [(&me.strata, "strata"), (&me.init, "strata-init")] {
        let dst = bin.join(name);
        fs::copy(src, &dst).map_err(io_ctx(format!(
            "cannot copy '{}' to '{}'",
            src.display(),
            dst.display()
        )))?;
    }
    copy_tree(&me.modules, &share.join("modules"), &|rel: &Path| {
        rel != Path::new("tests")
    })?;
    fs::write(share.join("strata.lock"), lock.to_text())
        .map_err(io_ctx("cannot write strata.lock"))?;
    fs::write(share.join(DIGEST_BESIDE_LOCK), digest)
        .map_err(io_ctx("cannot write the Debian digest"))?;
    let name = format!("strata-{}", env!("CARGO_PKG_VERSION"));
    Ok(store.add_path(&root, Some(&name))?.path)
}

/// Copies the directory tree `src` to `dst` (files, directories, symlinks), skipping entries
/// whose path relative to `src` `keep` refuses.
fn copy_tree(src: &Path, dst: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<(), SystemError> {
    fn walk(
        src: &Path,
        dst: &Path,
        rel: &Path,
        keep: &dyn Fn(&Path) -> bool,
    ) -> Result<(), SystemError> {
        fs::create_dir_all(dst).map_err(io_ctx(format!("cannot create '{}'", dst.display())))?;
        let mut entries: Vec<_> = fs::read_dir(src)
            .map_err(io_ctx(format!("cannot read '{}'", src.display())))?
            .collect::<Result<_, _>>()
            .map_err(io_ctx(format!("cannot read '{}'", src.display())))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let rel = rel.join(e.file_name());
            if !keep(&rel) {
                continue;
            }
            let from = e.path();
            let to = dst.join(e.file_name());
            let ft = e
                .file_type()
                .map_err(io_ctx(format!("cannot stat '{}'", from.display())))?;
            if ft.is_dir() {
                walk(&from, &to, &rel, keep)?;
            } else if ft.is_symlink() {
                let target = fs::read_link(&from)
                    .map_err(io_ctx(format!("cannot read link '{}'", from.display())))?;
                std::os::unix::fs::symlink(&target, &to)
                    .map_err(io_ctx(format!("cannot create '{}'", to.display())))?;
            } else {
                fs::copy(&from, &to).map_err(io_ctx(format!(
                    "cannot copy '{}' to '{}'",
                    from.display(),
                    to.display()
                )))?;
            }
        }
        Ok(())
    }
    walk(src, dst, Path::new(""), keep)
}

/// `time.timeZone` must name a file of the zone database `environment.etc.zoneinfo` links to
/// (tzdata's, which must be built by now).
fn check_time_zone(
    store: &LocalStore,
    config: &config::SystemConfig,
    tz: &str,
) -> Result<(), SystemError> {
    let bad = |m: String| Err(SystemError::Strata(m));
    let Some(db) = config
        .environment
        .etc
        .get("zoneinfo")
        .and_then(|e| e.source.as_deref())
    else {
        return bad(format!(
            "time.timeZone is \"{tz}\", but the system has no zone database: strata.lock pins \
             no tzdata (add it with `strata lock update`)"
        ));
    };
    let dir = store.store_dir();
    let Ok(p) = dir.parse_containing(db) else {
        return bad(format!(
            "environment.etc.zoneinfo.source is '{db}', not a path in the store"
        ));
    };
    let rest = db.strip_prefix(&dir.display(&p)).unwrap_or("");
    let real = store.real_path(&p).join(rest.trim_start_matches('/'));
    if !real.join(tz).is_file() {
        return bad(format!(
            "time.timeZone: \"{tz}\" is not a time zone of the tz database ('{db}' has no such \
             file); the names are those under /usr/share/zoneinfo, e.g. \"Europe/Paris\""
        ));
    }
    Ok(())
}
