//! Realising one derivation: running its builder in a sandbox and registering its outputs.
//!
//! Sandboxed builders run in [`crate::sandbox`]; builders named `builtin:<kind>` are strata's
//! own code ([`crate::builtins`]) and run in this process, without a sandbox, leaving their
//! output in the same staging directory.
//!
//! After a successful build each output is canonicalised, scanned for references (to the
//! input closure and the outputs), hashed, checked against the expected hash if fixed-output,
//! and all outputs are registered in one transaction. The build log (stdout and stderr) is
//! kept at `<state_dir>/../log/strata/drvs/<hash-part of the .drv>` ([`log_path`], which
//! `strata log` reads too).
//!
//! Must not: set up namespaces (that is [`crate::sandbox`]) or know what a builtin builder
//! does (that is [`crate::builtins`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use strata_store::derivation::{Derivation, Output};
use strata_store::local::{canonicalise, delete_tree, fixed_content_hash, BuiltOutput};
use strata_store::refs;
use strata_store::{Hash, HashAlgo, LocalStore, StoreError, StorePath};

use crate::builtins::{self, BuiltinContext, BuiltinError};
use crate::sandbox::{Limits, Outcome, SandboxError, SandboxSpec};

/// How many lines of the log a failed build's error shows.
const LOG_TAIL_LINES: usize = 20;

/// How a build runs.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Kill the build after this long.
    pub timeout: Option<Duration>,
    /// `NIX_BUILD_CORES`; 0 means the number of CPUs.
    pub cores: u32,
    /// Where build directories are made (default: the system's temporary directory).
    pub tmp_dir: Option<PathBuf>,
    /// Set to true (from another thread) to kill the build.
    pub cancel: Option<Arc<AtomicBool>>,
    /// The output paths of input derivations, by `.drv` path and output name. Input
    /// derivations missing here are read from their `.drv` files in the store.
    pub input_outputs: BTreeMap<String, BTreeMap<String, StorePath>>,
    /// The base URL that `mirror://debian/` URLs of `builtin:fetchurl` stand for (e.g.
    /// `http://deb.debian.org/debian`). The library never reads the environment for it; the
    /// command line fills it in ([`crate::debian::mirror::debian_mirror`]).
    pub debian_mirror: Option<String>,
}

/// Everything that can go wrong while realising a derivation.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    #[error("invalid derivation '{drv}': {problem}")]
    BadDerivation { drv: String, problem: String },
    #[error("input '{input}' of '{drv}' is not valid in the store (build it first)")]
    MissingInput { drv: String, input: String },
    #[error("cannot build '{drv}': the sandbox needs user namespaces, which this machine does not allow ({detail}); enable them (e.g. sysctl kernel.unprivileged_userns_clone=1 or user.max_user_namespaces > 0)")]
    NoUserNamespaces { drv: String, detail: String },
    #[error("cannot set up the build sandbox for '{drv}': {detail}")]
    Sandbox { drv: String, detail: String },
    #[error("builder for '{drv}' {status}; last {LOG_TAIL_LINES} log lines (full log in '{}'):\n{tail}", log.display())]
    Failed {
        drv: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("builder for '{drv}' failed to produce output path '{path}' (output '{output}')")]
    OutputMissing {
        drv: String,
        output: String,
        path: String,
    },
    #[error("hash mismatch in fixed-output derivation '{drv}':\n  specified: {specified}\n       got: {got}")]
    HashMismatch {
        drv: String,
        specified: String,
        got: String,
    },
    #[error("fixed-output derivation '{drv}' produced an output that refers to other store paths: {refs}")]
    FixedOutputRefs { drv: String, refs: String },
    #[error("builder '{builder}' of '{drv}' failed: {detail}")]
    Builtin {
        drv: String,
        builder: String,
        detail: String,
    },
}

fn io_ctx(context: impl Into<String>) -> impl FnOnce(io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

/// Where the build log of the derivation `drv_path` is kept:
/// `<state_dir>/../log/strata/drvs/<hash part of the .drv>`.
pub fn log_path(store: &LocalStore, drv_path: &StorePath) -> PathBuf {
    store
        .state_dir()
        .parent()
        .unwrap_or(store.state_dir())
        .join("log/strata/drvs")
        .join(drv_path.hash_part())
}

impl From<SandboxError> for BuildError {
    fn from(e: SandboxError) -> Self {
        BuildError::Io {
            context: e.context,
            source: e.source,
        }
    }
}

/// Builds `drv` (whose `.drv` file is `drv_path`) unless all its outputs are valid already,
/// and returns its output paths by name.
pub fn realise(
    store: &mut LocalStore,
    drv_path: &StorePath,
    drv: &Derivation,
    opts: &BuildOptions,
) -> Result<BTreeMap<String, StorePath>, BuildError> {
    let drv_name = store.print(drv_path);
    let bad = |problem: String| BuildError::BadDerivation {
        drv: drv_name.clone(),
        problem,
    };
    if drv.outputs.is_empty() {
        return Err(bad("it has no outputs".to_owned()));
    }
    let mut outputs: BTreeMap<String, StorePath> = BTreeMap::new();
    for (name, o) in &drv.outputs {
        let p = store
            .store_dir()
            .parse(&o.path)
            .map_err(|e| bad(format!("output '{name}': {e}")))?;
        outputs.insert(name.clone(), p);
    }
    // Held until the outputs are registered: GC must not delete inputs or the staging tree.
    let _hold = store.gc_hold()?;
    let mut all_valid = true;
    for p in outputs.values() {
        if !store.is_valid(p)? {
            all_valid = false;
        }
    }
    if all_valid {
        return Ok(outputs);
    }

    // Inputs and their closure.
    let mut inputs: Vec<StorePath> = Vec::new();
    for src in &drv.input_srcs {
        inputs.push(
            store
                .store_dir()
                .parse(src)
                .map_err(|e| bad(format!("input source: {e}")))?,
        );
    }
    for (in_drv, outs) in &drv.input_drvs {
        let known = opts.input_outputs.get(in_drv);
        let parsed = match known {
            Some(_) => None,
            None => Some(read_derivation(store, in_drv).map_err(|e| bad(e.to_string()))?),
        };
        for o in outs {
            let p = match (known, &parsed) {
                (Some(k), _) => k.get(o).cloned(),
                (None, Some(d)) => match d.outputs.get(o) {
                    Some(out) => store.store_dir().parse(&out.path).ok(),
                    None => None,
                },
                (None, None) => None,
            };
            let p = p.ok_or_else(|| bad(format!("input '{in_drv}' has no output '{o}'")))?;
            inputs.push(p);
        }
    }
    for p in &inputs {
        if !store.is_valid(p)? {
            return Err(BuildError::MissingInput {
                drv: drv_name.clone(),
                input: store.print(p),
            });
        }
    }
    let closure = store.closure(&inputs)?;

    // The log.
    let log_path = log_path(store, drv_path);
    if let Some(log_dir) = log_path.parent() {
        fs::create_dir_all(log_dir)
            .map_err(io_ctx(format!("cannot create '{}'", log_dir.display())))?;
    }

    // strata's own builders run in this process, without a sandbox.
    if let Some(kind) = drv.builder.strip_prefix("builtin:") {
        let staging = store.new_staging_dir("build")?;
        let result = run_builtin(
            store, drv_path, drv, kind, opts, &outputs, &closure, &staging, &log_path,
        );
        let _ = delete_tree(&staging);
        return result.map(|()| outputs);
    }

    // The build directory: `top` becomes /build, `root` the sandbox's mount point.
    let tmp = opts.tmp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let build_dir = fresh_build_dir(&tmp, drv_path.name().trim_end_matches(".drv"))?;
    let staging = match store.new_staging_dir("build") {
        Ok(s) => s,
        Err(e) => {
            let _ = delete_tree(&build_dir);
            return Err(e.into());
        }
    };
    let result = build_in(
        store, drv_path, drv, opts, &outputs, &closure, &build_dir, &staging, &log_path,
    );
    let _ = delete_tree(&staging);
    let _ = delete_tree(&build_dir);
    result.map(|()| outputs)
}

static BUILD_COUNTER: AtomicU64 = AtomicU64::new(0);

fn fresh_build_dir(tmp: &Path, name: &str) -> Result<PathBuf, BuildError> {
    use std::os::unix::fs::DirBuilderExt;
    loop {
        let n = BUILD_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = tmp.join(format!("strata-build-{name}-{}-{n}", std::process::id()));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                for sub in ["top", "root"] {
                    fs::DirBuilder::new()
                        .mode(0o700)
                        .create(dir.join(sub))
                        .map_err(io_ctx(format!("cannot create '{}'", dir.display())))?;
                }
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_ctx(format!("cannot create '{}'", dir.display()))(e)),
        }
    }
}

/// Why an input derivation could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadDrvError {
    #[error(transparent)]
    Path(#[from] strata_store::path::PathError),
    #[error("cannot read input derivation '{drv}': {source}")]
    Read { drv: String, source: io::Error },
    #[error("cannot parse '{drv}': {source}")]
    Parse {
        drv: String,
        source: strata_store::derivation::DrvParseError,
    },
}

/// Reads and parses a `.drv` file from the store.
fn read_derivation(store: &LocalStore, drv: &str) -> Result<Derivation, ReadDrvError> {
    let p = store.store_dir().parse(drv)?;
    let text = fs::read_to_string(store.real_path(&p)).map_err(|source| ReadDrvError::Read {
        drv: drv.to_owned(),
        source,
    })?;
    Derivation::parse(&text).map_err(|source| ReadDrvError::Parse {
        drv: drv.to_owned(),
        source,
    })
}

#[allow(clippy::too_many_arguments)]
fn build_in(
    store: &mut LocalStore,
    drv_path: &StorePath,
    drv: &Derivation,
    opts: &BuildOptions,
    outputs: &BTreeMap<String, StorePath>,
    closure: &BTreeSet<StorePath>,
    build_dir: &Path,
    staging: &Path,
    log_path: &Path,
) -> Result<(), BuildError> {
    let drv_name = store.print(drv_path);
    let fixed = drv.is_fixed_output();
    let limits = Limits {
        cores: opts.cores,
        timeout: opts.timeout,
        cancel: opts.cancel.clone(),
    };
    let spec = SandboxSpec::new(store, drv, &limits, closure, build_dir, staging, fixed)?;
    let log = fs::File::create(log_path)
        .map_err(io_ctx(format!("cannot create '{}'", log_path.display())))?;
    let outcome = spec.run(&log, &limits)?;
    drop(log);
    let status = match outcome {
        Outcome::Exited(0) => None,
        Outcome::Exited(c) => Some(format!("failed with exit code {c}")),
        Outcome::Signalled(s) => Some(format!("was killed by signal {s}")),
        Outcome::TimedOut(d) => Some(format!("timed out after {} s", d.as_secs())),
        Outcome::Cancelled => Some("was cancelled".to_owned()),
        Outcome::SetupFailed(msg) => {
            if msg.starts_with("unshare") || msg.contains("uid_map") || msg.contains("setgroups") {
                return Err(BuildError::NoUserNamespaces {
                    drv: drv_name,
                    detail: msg,
                });
            }
            return Err(BuildError::Sandbox {
                drv: drv_name,
                detail: msg,
            });
        }
    };
    if let Some(status) = status {
        return Err(BuildError::Failed {
            drv: drv_name,
            status,
            tail: log_tail(log_path),
            log: log_path.to_owned(),
        });
    }
    register_staged(store, drv_path, drv, outputs, closure, staging)
}

/// Moves the outputs a builder left in `staging` (each at its base name) into the physical
/// store directory, canonicalises, scans and checks them, and registers them together. On any
/// failure nothing becomes valid and the moved trees are deleted.
fn register_staged(
    store: &mut LocalStore,
    drv_path: &StorePath,
    drv: &Derivation,
    outputs: &BTreeMap<String, StorePath>,
    closure: &BTreeSet<StorePath>,
    staging: &Path,
) -> Result<(), BuildError> {
    let drv_name = store.print(drv_path);
    // Collect the outputs.
    let mut candidates: BTreeSet<StorePath> = closure.clone();
    candidates.extend(outputs.values().cloned());
    // Move the outputs next to their final places first: a directory can only be renamed
    // into another parent while it is still writable (before canonicalisation).
    let mut moved: BTreeMap<&String, PathBuf> = BTreeMap::new();
    let cleanup = |moved: &BTreeMap<&String, PathBuf>| {
        for t in moved.values() {
            let _ = delete_tree(t);
        }
    };
    for (name, path) in outputs {
        let tree = staging.join(path.base_name());
        if fs::symlink_metadata(&tree).is_err() {
            cleanup(&moved);
            return Err(BuildError::OutputMissing {
                drv: drv_name,
                output: name.clone(),
                path: store.print(path),
            });
        }
        let n = BUILD_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dest = store.real_store_dir().join(format!(
            ".tmp-built-{}-{n}-{}",
            std::process::id(),
            path.base_name()
        ));
        if let Err(e) = fs::rename(&tree, &dest) {
            cleanup(&moved);
            return Err(io_ctx(format!("cannot move '{}'", tree.display()))(e));
        }
        moved.insert(name, dest);
    }
    let collected = collect_outputs(store, drv_path, drv, outputs, &candidates, &moved);
    match collected {
        Ok(built) => {
            store.register_built_outputs(built)?;
            Ok(())
        }
        Err(e) => {
            cleanup(&moved);
            Err(e)
        }
    }
}

/// Canonicalises, scans and hashes the built outputs (and checks fixed ones).
fn collect_outputs(
    store: &LocalStore,
    drv_path: &StorePath,
    drv: &Derivation,
    outputs: &BTreeMap<String, StorePath>,
    candidates: &BTreeSet<StorePath>,
    moved: &BTreeMap<&String, PathBuf>,
) -> Result<Vec<BuiltOutput>, BuildError> {
    let drv_name = store.print(drv_path);
    let fixed = drv.is_fixed_output();
    let mut built = Vec::new();
    for (name, path) in outputs {
        let Some(tree) = moved.get(name).cloned() else {
            continue;
        };
        canonicalise(&tree)?;
        let (nar_hash, nar_size, references) =
            refs::hash_and_scan(&tree, candidates).map_err(StoreError::from)?;
        let mut ca = None;
        if fixed {
            if let Some(o) = drv.outputs.get(name) {
                ca = Some(check_fixed(&drv_name, o, &tree, &nar_hash)?);
            }
            let foreign: Vec<String> = references
                .iter()
                .filter(|r| *r != path)
                .map(|r| store.print(r))
                .collect();
            if !foreign.is_empty() {
                return Err(BuildError::FixedOutputRefs {
                    drv: drv_name,
                    refs: foreign.join(", "),
                });
            }
        }
        built.push(BuiltOutput {
            tree,
            path: path.clone(),
            references,
            deriver: Some(drv_path.clone()),
            ca,
            nar_hash,
            nar_size,
        });
    }
    Ok(built)
}

/// Checks a fixed output's hash; returns its content address.
fn check_fixed(drv: &str, o: &Output, tree: &Path, nar_hash: &Hash) -> Result<String, BuildError> {
    let bad = |problem: String| BuildError::BadDerivation {
        drv: drv.to_owned(),
        problem,
    };
    let (recursive, algo) = match o.hash_algo.strip_prefix("r:") {
        Some(a) => (true, a),
        None => (false, o.hash_algo.as_str()),
    };
    let algo: HashAlgo = algo
        .parse()
        .map_err(|e| bad(format!("output hash algorithm: {e}")))?;
    let expected =
        Hash::parse(&o.hash, Some(algo)).map_err(|e| bad(format!("output hash: {e}")))?;
    if !recursive {
        let md = fs::symlink_metadata(tree)
            .map_err(io_ctx(format!("cannot stat '{}'", tree.display())))?;
        if !md.is_file() {
            return Err(bad(
                "a flat fixed output must be a regular file, but the builder made something else"
                    .to_owned(),
            ));
        }
    }
    let got = fixed_content_hash(tree, algo, recursive, nar_hash)?;
    if got != expected {
        return Err(BuildError::HashMismatch {
            drv: drv.to_owned(),
            specified: expected.to_sri(),
            got: got.to_sri(),
        });
    }
    Ok(format!("fixed:{}{got}", if recursive { "r:" } else { "" }))
}

/// The last lines of a log file.
fn log_tail(path: &Path) -> String {
    let Ok(data) = fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&data);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines[start..].join("\n")
}

/// Runs the builtin builder `builtin:<kind>` ([`crate::builtins`]), which leaves its output in
/// `staging`, then registers it as a sandboxed build's outputs are.
#[allow(clippy::too_many_arguments)]
fn run_builtin(
    store: &mut LocalStore,
    drv_path: &StorePath,
    drv: &Derivation,
    kind: &str,
    opts: &BuildOptions,
    outputs: &BTreeMap<String, StorePath>,
    closure: &BTreeSet<StorePath>,
    staging: &Path,
    log_path: &Path,
) -> Result<(), BuildError> {
    let drv_name = store.print(drv_path);
    let (Some(out), 1) = (outputs.get("out"), outputs.len()) else {
        return Err(BuildError::BadDerivation {
            drv: drv_name,
            problem: format!("'{}' makes exactly one output, 'out'", drv.builder),
        });
    };
    let dest = staging.join(out.base_name());
    let mut log = fs::File::create(log_path)
        .map_err(io_ctx(format!("cannot create '{}'", log_path.display())))?;
    let mut cx = BuiltinContext {
        store,
        drv,
        out_path: out,
        closure,
        out: &dest,
        log: &mut log,
        debian_mirror: opts.debian_mirror.as_deref(),
    };
    builtins::run(kind, &mut cx).map_err(|e| match e {
        BuiltinError::BadDerivation(problem) => BuildError::BadDerivation {
            drv: drv_name.clone(),
            problem,
        },
        BuiltinError::Io { context, source } => BuildError::Io { context, source },
        failed => BuildError::Builtin {
            drv: drv_name.clone(),
            builder: drv.builder.clone(),
            detail: failed.to_string(),
        },
    })?;
    drop(log);
    register_staged(store, drv_path, drv, outputs, closure, staging)
}
