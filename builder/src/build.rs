//! Realising one derivation: running its builder in a sandbox and registering its outputs.
//!
//! The sandbox is made of Linux namespaces. The calling process forks a helper that unshares
//! a new user namespace (the caller's uid and gid appear inside as 1000 and 100, `nixbld`),
//! mount, PID, UTS, IPC and, unless the derivation is fixed-output, network namespaces. The
//! helper forks the builder, which is PID 1 of the new PID namespace: it mounts a fresh tmpfs
//! root holding the logical store directory (a staging directory of the physical store, so
//! the outputs it creates can later be renamed into place) with only the closure of the
//! declared inputs bind-mounted read-only into it, `/build` (the build directory, also `/tmp`),
//! a minimal `/dev`, a fresh `/proc` and `/etc/{passwd,group,hosts}`; it pivots into that root
//! and executes the builder, which loses all capabilities as it is not root inside. Killing
//! the helper kills the builder (parent-death signal), and the death of PID 1 makes the kernel
//! kill everything else in the namespace.
//!
//! After a successful build each output is canonicalised, scanned for references (to the
//! input closure and the outputs), hashed, checked against the expected hash if fixed-output,
//! and all outputs are registered in one transaction. The build log (stdout and stderr) is
//! kept at `<state_dir>/../log/strata/drvs/<hash-part of the .drv>`.
//!
//! Builders named `builtin:<kind>` are strata's own code and run in this process, without a
//! sandbox, leaving their output in the same staging directory, from where it is registered
//! exactly like a sandboxed build's: `builtin:fetchurl` downloads the `url` attribute (a
//! `mirror://debian/` URL resolves against [`BuildOptions::debian_mirror`]) into a flat fixed
//! output, whose hash is then checked like any fixed output's; `builtin:unpack-deb` unpacks
//! the data of the `.deb` named by the `deb` attribute (which must be an input) with
//! [`crate::debian::unpack::unpack_deb`]; `builtin:strata-initrd` and `builtin:strata-toplevel` make a
//! system's initrd and toplevel ([`crate::system`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_store::derivation::{Derivation, Output};
use strata_store::local::{canonicalise, delete_tree, fixed_content_hash, BuiltOutput};
use strata_store::refs;
use strata_store::{Hash, HashAlgo, LocalStore, StoreError, StorePath};

/// The uid and gid the builder has inside the sandbox.
pub const BUILD_UID: u32 = 1000;
pub const BUILD_GID: u32 = 100;

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
    /// command line fills it in from `STRATA_DEBIAN_MIRROR`.
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
            None => Some(read_derivation(store, in_drv).map_err(&bad)?),
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
    let log_dir = store
        .state_dir()
        .parent()
        .unwrap_or(store.state_dir())
        .join("log/strata/drvs");
    fs::create_dir_all(&log_dir)
        .map_err(io_ctx(format!("cannot create '{}'", log_dir.display())))?;
    let log_path = log_dir.join(drv_path.hash_part());

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

/// Reads and parses a `.drv` file from the store.
fn read_derivation(store: &LocalStore, drv: &str) -> Result<Derivation, String> {
    let p = store.store_dir().parse(drv).map_err(|e| e.to_string())?;
    let text = fs::read_to_string(store.real_path(&p))
        .map_err(|e| format!("cannot read input derivation '{drv}': {e}"))?;
    Derivation::parse(&text).map_err(|e| format!("cannot parse '{drv}': {e}"))
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
    let spec = SandboxSpec::new(store, drv, opts, closure, build_dir, staging, fixed)?;
    let log = fs::File::create(log_path)
        .map_err(io_ctx(format!("cannot create '{}'", log_path.display())))?;
    let outcome = spec.run(&log, opts)?;
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

// ---------------------------------------------------------------------------------------------
// strata's builtin builders

/// The scheme of URLs that stand for a Debian archive, so `.drv` files do not name a host.
pub const DEBIAN_MIRROR_SCHEME: &str = "mirror://debian/";

/// The URL `url` stands for: `mirror://debian/<rest>` becomes `<mirror>/<rest>`; other URLs
/// are returned as they are.
pub fn resolve_mirror_url(url: &str, debian_mirror: Option<&str>) -> Result<String, String> {
    let Some(rest) = url.strip_prefix(DEBIAN_MIRROR_SCHEME) else {
        return Ok(url.to_owned());
    };
    let mirror = debian_mirror
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            format!(
                "'{url}' needs a Debian mirror: set STRATA_DEBIAN_MIRROR \
                 (e.g. to http://deb.debian.org/debian)"
            )
        })?;
    Ok(format!(
        "{}/{}",
        mirror.trim_end_matches('/'),
        rest.trim_start_matches('/')
    ))
}

/// Runs the builtin builder `builtin:<kind>`, which leaves its outputs in `staging`, then
/// registers them as a sandboxed build's outputs are.
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
    let bad = |problem: String| BuildError::BadDerivation {
        drv: drv_name.clone(),
        problem,
    };
    let failed = |detail: String| BuildError::Builtin {
        drv: drv_name.clone(),
        builder: drv.builder.clone(),
        detail,
    };
    let (Some(out), 1) = (outputs.get("out"), outputs.len()) else {
        return Err(bad(format!(
            "'{}' makes exactly one output, 'out'",
            drv.builder
        )));
    };
    let env = |name: &str| {
        drv.env
            .get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad(format!("'{}' needs the attribute '{name}'", drv.builder)))
    };
    let dest = staging.join(out.base_name());
    let mut log = fs::File::create(log_path)
        .map_err(io_ctx(format!("cannot create '{}'", log_path.display())))?;
    match kind {
        "fetchurl" => {
            let o = &drv.outputs["out"];
            if !drv.is_fixed_output() || o.hash_algo.starts_with("r:") {
                return Err(bad(
                    "'builtin:fetchurl' needs a flat fixed output (outputHash and \
                     outputHashAlgo, outputHashMode = \"flat\")"
                        .to_owned(),
                ));
            }
            let algo: HashAlgo = o
                .hash_algo
                .parse()
                .map_err(|e| bad(format!("output hash algorithm: {e}")))?;
            let url =
                resolve_mirror_url(env("url")?, opts.debian_mirror.as_deref()).map_err(&failed)?;
            let _ = writeln!(log, "downloading '{url}'");
            let mut file = fs::File::create(&dest)
                .map_err(io_ctx(format!("cannot create '{}'", dest.display())))?;
            let got = crate::fetch::download(
                &url,
                &mut file,
                algo,
                out.name(),
                crate::fetch::Progress::Never,
            )
            .map_err(|e| failed(e.to_string()))?;
            let _ = writeln!(log, "{} bytes, {}", file_len(&file), got.to_sri());
            // The hash is checked (against the derivation, with both hashes in the error)
            // where every fixed output is: in `register_staged`.
        }
        "unpack-deb" => {
            let deb = env("deb")?;
            let deb_path = store
                .store_dir()
                .parse(deb)
                .map_err(|e| bad(format!("attribute 'deb': {e}")))?;
            if !closure.contains(&deb_path) {
                return Err(bad(format!(
                    "attribute 'deb' ('{deb}') is not among the derivation's inputs"
                )));
            }
            let _ = writeln!(log, "unpacking '{deb}'");
            let contents = crate::debian::unpack::unpack_deb(&store.real_path(&deb_path), &dest)
                .map_err(|e| failed(e.to_string()))?;
            let _ = writeln!(
                log,
                "{} entries from {}",
                contents.paths.len(),
                contents.data_member
            );
        }
        "strata-initrd" | "strata-toplevel" => {
            let mut cx = crate::system::BuiltinContext {
                store,
                drv,
                closure,
                out: &dest,
                log: &mut log,
            };
            if kind == "strata-initrd" {
                crate::system::builtin_initrd(&mut cx)
            } else {
                crate::system::builtin_toplevel(&mut cx)
            }
            .map_err(&failed)?;
        }
        other => {
            return Err(bad(format!(
                "unknown builtin builder 'builtin:{other}' (strata has builtin:fetchurl, \
                 builtin:unpack-deb, builtin:strata-initrd and builtin:strata-toplevel)"
            )))
        }
    }
    drop(log);
    register_staged(store, drv_path, drv, outputs, closure, staging)
}

fn file_len(f: &fs::File) -> u64 {
    f.metadata().map_or(0, |m| m.len())
}

// ---------------------------------------------------------------------------------------------
// The sandbox

/// What the build process does after forking, prepared in advance so that the forked
/// processes only read memory and make system calls.
#[derive(Debug)]
enum Step {
    Mount {
        src: Option<CString>,
        dst: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
        optional: bool,
    },
    Mkdir(CString),
    Touch {
        path: CString,
        optional: bool,
    },
    Write {
        path: CString,
        data: Vec<u8>,
    },
    Symlink {
        target: CString,
        link: CString,
    },
}

#[derive(Debug)]
enum Outcome {
    Exited(i32),
    Signalled(i32),
    TimedOut(Duration),
    Cancelled,
    SetupFailed(String),
}

#[derive(Debug)]
struct SandboxSpec {
    unshare_flags: libc::c_int,
    new_net: bool,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    steps: Vec<Step>,
    root: CString,
    builder: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

fn cstr(p: impl AsRef<[u8]>) -> Result<CString, BuildError> {
    CString::new(p.as_ref()).map_err(|_| BuildError::Io {
        context: "a path or argument contains a NUL byte".to_owned(),
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })
}

fn cpath(p: &Path) -> Result<CString, BuildError> {
    cstr(p.as_os_str().as_bytes())
}

/// Creates the file `dst` in the sandbox and bind-mounts the host file `host` on it (a
/// failed mount is skipped when `optional`).
fn bind_file(host: &Path, dst: &Path, optional: bool) -> Result<[Step; 2], BuildError> {
    Ok([
        Step::Touch {
            path: cpath(dst)?,
            optional: false,
        },
        Step::Mount {
            src: Some(cpath(host)?),
            dst: cpath(dst)?,
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
            optional,
        },
    ])
}

/// The mount flags a bind mount of `path` must keep when it is remounted read-only inside a
/// user namespace (the kernel refuses to clear them).
fn locked_flags(path: &Path) -> libc::c_ulong {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: `c` is a valid NUL-terminated string and `buf` a properly sized, writable
    // statvfs structure that outlives the call.
    let mut buf: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut buf) } != 0 {
        return 0;
    }
    let keep = libc::ST_NOSUID
        | libc::ST_NODEV
        | libc::ST_NOEXEC
        | libc::ST_NOATIME
        | libc::ST_NODIRATIME
        | libc::ST_RELATIME;
    buf.f_flag & keep
}

impl SandboxSpec {
    #[allow(clippy::too_many_arguments)]
    fn new(
        store: &LocalStore,
        drv: &Derivation,
        opts: &BuildOptions,
        closure: &BTreeSet<StorePath>,
        build_dir: &Path,
        staging: &Path,
        fixed: bool,
    ) -> Result<SandboxSpec, BuildError> {
        let root = build_dir.join("root");
        let top = build_dir.join("top");
        let store_dir = store.store_dir().as_str().to_owned();
        let in_root = |logical: &str| root.join(logical.trim_start_matches('/'));
        let mut steps = Vec::new();
        let mount =
            |src: Option<&Path>, dst: &Path, fstype: Option<&str>, flags, data: Option<&str>| {
                Ok::<Step, BuildError>(Step::Mount {
                    src: src.map(cpath).transpose()?,
                    dst: cpath(dst)?,
                    fstype: fstype.map(cstr).transpose()?,
                    flags,
                    data: data.map(cstr).transpose()?,
                    optional: false,
                })
            };
        // Nothing done here may reach the host's mounts.
        steps.push(mount(
            None,
            Path::new("/"),
            None,
            libc::MS_REC | libc::MS_PRIVATE,
            None,
        )?);
        steps.push(mount(
            Some(Path::new("tmpfs")),
            &root,
            Some("tmpfs"),
            libc::MS_NOSUID,
            Some("mode=0755"),
        )?);
        // Directories of the new root, parents first.
        let store_in_root = in_root(&store_dir);
        let mut dirs: Vec<PathBuf> = Vec::new();
        for logical in [
            store_dir.as_str(),
            "/build",
            "/tmp",
            "/dev/shm",
            "/dev/pts",
            "/proc",
            "/etc",
        ] {
            let mut acc = root.clone();
            for comp in Path::new(logical).components().skip(1) {
                acc.push(comp);
                if !dirs.contains(&acc) {
                    dirs.push(acc.clone());
                }
            }
        }
        for d in &dirs {
            steps.push(Step::Mkdir(cpath(d)?));
        }
        // The store: the staging directory, holding the outputs the builder makes, with the
        // input closure mounted read-only on placeholders created here.
        steps.push(mount(
            Some(staging),
            &store_in_root,
            None,
            libc::MS_BIND,
            None,
        )?);
        for p in closure {
            let real = store.real_path(p);
            let place = staging.join(p.base_name());
            let md = fs::symlink_metadata(&real)
                .map_err(io_ctx(format!("cannot stat '{}'", real.display())))?;
            if md.file_type().is_symlink() {
                let target = fs::read_link(&real)
                    .map_err(io_ctx(format!("cannot read '{}'", real.display())))?;
                std::os::unix::fs::symlink(&target, &place)
                    .map_err(io_ctx(format!("cannot create '{}'", place.display())))?;
                continue;
            }
            if md.is_dir() {
                fs::create_dir(&place)
            } else {
                fs::File::create(&place).map(drop)
            }
            .map_err(io_ctx(format!("cannot create '{}'", place.display())))?;
            let dst = store_in_root.join(p.base_name());
            steps.push(mount(
                Some(&real),
                &dst,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?);
            steps.push(mount(
                None,
                &dst,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked_flags(&real),
                None,
            )?);
        }
        // /build and /tmp.
        steps.push(mount(
            Some(&top),
            &in_root("/build"),
            None,
            libc::MS_BIND,
            None,
        )?);
        steps.push(mount(
            Some(&top),
            &in_root("/tmp"),
            None,
            libc::MS_BIND,
            None,
        )?);
        // /dev.
        for dev in ["null", "zero", "full", "random", "urandom", "tty"] {
            let host = Path::new("/dev").join(dev);
            if fs::symlink_metadata(&host).is_err() {
                continue;
            }
            let dst = in_root(&format!("/dev/{dev}"));
            // /dev/tty is a convenience; the others are required.
            steps.extend(bind_file(&host, &dst, dev == "tty")?);
        }
        steps.push(mount(
            Some(Path::new("tmpfs")),
            &in_root("/dev/shm"),
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some("mode=1777"),
        )?);
        steps.push(Step::Mount {
            src: Some(cstr("devpts")?),
            dst: cpath(&in_root("/dev/pts"))?,
            fstype: Some(cstr("devpts")?),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC,
            data: Some(cstr("newinstance,ptmxmode=0666,mode=0620")?),
            optional: true,
        });
        for (target, link) in [
            ("pts/ptmx", "/dev/ptmx"),
            ("/proc/self/fd", "/dev/fd"),
            ("/proc/self/fd/0", "/dev/stdin"),
            ("/proc/self/fd/1", "/dev/stdout"),
            ("/proc/self/fd/2", "/dev/stderr"),
        ] {
            steps.push(Step::Symlink {
                target: cstr(target)?,
                link: cpath(&in_root(link))?,
            });
        }
        // /proc of the new PID namespace.
        steps.push(mount(
            Some(Path::new("proc")),
            &in_root("/proc"),
            Some("proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        )?);
        // /etc.
        let passwd = format!(
            "root:x:0:0:Nix build user:/build:/noshell\n\
             nixbld:x:{BUILD_UID}:{BUILD_GID}:Nix build user:/build:/noshell\n\
             nobody:x:65534:65534:Nobody:/:/noshell\n"
        );
        let group = format!("root:x:0:\nnixbld:!:{BUILD_GID}:\nnogroup:x:65534:\n");
        let hosts = "127.0.0.1 localhost\n::1 localhost\n";
        for (name, data) in [
            ("passwd", passwd.as_str()),
            ("group", &group),
            ("hosts", hosts),
        ] {
            steps.push(Step::Write {
                path: cpath(&in_root(&format!("/etc/{name}")))?,
                data: data.as_bytes().to_vec(),
            });
        }
        if fixed {
            // Fixed-output builds may use the network, so they get name resolution.
            for f in ["resolv.conf", "services"] {
                let host = Path::new("/etc").join(f);
                if fs::metadata(&host).is_ok() {
                    steps.extend(bind_file(&host, &in_root(&format!("/etc/{f}")), true)?);
                }
            }
        }

        // The environment.
        let cores = if opts.cores == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
        } else {
            opts.cores
        };
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            ("PATH", "/path-not-set"),
            ("HOME", "/homeless-shelter"),
            ("NIX_BUILD_TOP", "/build"),
            ("TMPDIR", "/build"),
            ("TEMPDIR", "/build"),
            ("TMP", "/build"),
            ("TEMP", "/build"),
            ("PWD", "/build"),
            ("TERM", "xterm-256color"),
            ("TZ", "UTC"),
            ("SOURCE_DATE_EPOCH", "1"),
            ("NIX_LOG_FD", "2"),
        ] {
            env.insert(k.to_owned(), v.to_owned());
        }
        env.insert("NIX_STORE".to_owned(), store_dir.clone());
        env.insert("NIX_BUILD_CORES".to_owned(), cores.to_string());
        // As Nix does: an attribute named in `passAsFile` is not in the environment; its
        // value is in the file `/build/.attr-<nix32 of sha256 of its name>`, named by
        // `<name>Path`.
        let pass_as_file: BTreeSet<&str> = drv
            .env
            .get("passAsFile")
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default();
        for (k, v) in &drv.env {
            if pass_as_file.contains(k.as_str()) {
                let file = format!(
                    ".attr-{}",
                    Hash::of(HashAlgo::Sha256, k.as_bytes()).to_nix32()
                );
                let host = top.join(&file);
                fs::write(&host, v.as_bytes())
                    .map_err(io_ctx(format!("cannot write '{}'", host.display())))?;
                env.insert(format!("{k}Path"), format!("/build/{file}"));
            } else {
                env.insert(k.clone(), v.clone());
            }
        }
        let envp = env
            .iter()
            .map(|(k, v)| cstr(format!("{k}={v}")))
            .collect::<Result<Vec<_>, _>>()?;
        let builder = cstr(&drv.builder)?;
        let mut argv = vec![builder.clone()];
        for a in &drv.args {
            argv.push(cstr(a)?);
        }

        // SAFETY: getuid and getgid cannot fail and have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let mut unshare_flags = libc::CLONE_NEWUSER
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC;
        if !fixed {
            unshare_flags |= libc::CLONE_NEWNET;
        }
        Ok(SandboxSpec {
            unshare_flags,
            new_net: !fixed,
            uid_map: format!("{BUILD_UID} {uid} 1\n").into_bytes(),
            gid_map: format!("{BUILD_GID} {gid} 1\n").into_bytes(),
            steps,
            root: cpath(&root)?,
            builder,
            argv,
            envp,
        })
    }

    /// Runs the builder and waits for it, killing it on timeout or cancellation.
    fn run(&self, log: &fs::File, opts: &BuildOptions) -> Result<Outcome, BuildError> {
        let devnull = fs::File::open("/dev/null").map_err(io_ctx("cannot open /dev/null"))?;
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io_ctx("cannot create a pipe")(io::Error::last_os_error()));
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
        let (err_r, err_w) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.envp.iter().map(|a| a.as_ptr()).collect();
        envp.push(std::ptr::null());
        let ctx = ChildCtx {
            spec: self,
            argv: &argv,
            envp: &envp,
            log: log.as_raw_fd(),
            stdin: devnull.as_raw_fd(),
            err: err_w.as_raw_fd(),
        };
        // SAFETY: fork has no preconditions. In the child only `helper_main` runs, which
        // makes async-signal-safe system calls on memory prepared before the fork (no
        // allocation, no locks) and never returns.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io_ctx("cannot fork")(io::Error::last_os_error()));
        }
        if pid == 0 {
            ctx.helper_main();
        }
        drop(err_w);
        let start = Instant::now();
        let mut killed: Option<Outcome> = None;
        let mut nap = Duration::from_millis(1);
        let status = loop {
            let mut status: libc::c_int = 0;
            // SAFETY: `status` is a valid out-pointer; `pid` is our child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break status;
            }
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(io_ctx("cannot wait for the builder")(e));
            }
            if killed.is_none() {
                if let Some(t) = opts.timeout {
                    if start.elapsed() >= t {
                        killed = Some(Outcome::TimedOut(t));
                    }
                }
                if opts
                    .cancel
                    .as_ref()
                    .is_some_and(|c| c.load(Ordering::Relaxed))
                {
                    killed = Some(Outcome::Cancelled);
                }
                if killed.is_some() {
                    // SAFETY: `pid` is our un-reaped child, so the id cannot have been reused.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(50));
        };
        let mut msg = Vec::new();
        let _ = fs::File::from(err_r).read_to_end(&mut msg);
        if let Some(k) = killed {
            return Ok(k);
        }
        if !msg.is_empty() {
            return Ok(Outcome::SetupFailed(
                String::from_utf8_lossy(&msg).into_owned(),
            ));
        }
        if libc::WIFEXITED(status) {
            Ok(Outcome::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Ok(Outcome::Signalled(libc::WTERMSIG(status)))
        } else {
            Ok(Outcome::Exited(-1))
        }
    }
}

/// Everything the forked processes use, borrowed from memory prepared before the fork.
struct ChildCtx<'a> {
    spec: &'a SandboxSpec,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    log: libc::c_int,
    stdin: libc::c_int,
    err: libc::c_int,
}

/// The error pipe's descriptor in the forked processes.
const ERR_FD: libc::c_int = 3;

/// Writes `what: errno N` to the error pipe and exits. Async-signal-safe.
fn die(err: libc::c_int, what: &[u8]) -> ! {
    // SAFETY: reading errno is thread-local and async-signal-safe.
    let errno = unsafe { *libc::__errno_location() };
    let mut buf = [0u8; 24];
    let mut n = errno.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    for part in [what, b": errno ", &buf[i..]] {
        // SAFETY: `part` is valid for reads of its length; write is async-signal-safe.
        unsafe { libc::write(err, part.as_ptr().cast(), part.len()) };
    }
    // SAFETY: _exit is async-signal-safe and ends the process without running any Rust code.
    unsafe { libc::_exit(127) }
}

impl ChildCtx<'_> {
    /// The helper: unshares the namespaces, maps the ids, forks the builder (PID 1 of the new
    /// PID namespace) and exits with its status.
    fn helper_main(&self) -> ! {
        // SAFETY: every call below is a plain system call wrapper (async-signal-safe) on
        // pointers to NUL-terminated strings and buffers that live across the fork.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            // Keep only the standard streams and the error pipe (as fd 3): this process never
            // executes anything, so it would otherwise hold every descriptor of the caller
            // open (other threads' files, making their executables "text file busy").
            if libc::dup2(self.stdin, 0) < 0
                || libc::dup2(self.log, 1) < 0
                || libc::dup2(self.log, 2) < 0
            {
                die(self.err, b"cannot redirect the builder's standard streams");
            }
            if self.err != ERR_FD && libc::dup3(self.err, ERR_FD, libc::O_CLOEXEC) < 0 {
                die(self.err, b"cannot move the error pipe");
            }
            if libc::syscall(libc::SYS_close_range, ERR_FD + 1, libc::c_uint::MAX, 0) != 0 {
                for fd in ERR_FD + 1..4096 {
                    libc::close(fd);
                }
            }
            let err = ERR_FD;
            if libc::unshare(self.spec.unshare_flags) != 0 {
                die(
                    err,
                    b"unshare of the user, mount, PID, UTS, IPC and network namespaces failed",
                );
            }
            write_file(
                err,
                c"/proc/self/setgroups",
                b"deny",
                b"cannot write /proc/self/setgroups",
            );
            write_file(
                err,
                c"/proc/self/uid_map",
                &self.spec.uid_map,
                b"cannot write /proc/self/uid_map",
            );
            write_file(
                err,
                c"/proc/self/gid_map",
                &self.spec.gid_map,
                b"cannot write /proc/self/gid_map",
            );
            let pid = libc::fork();
            if pid < 0 {
                die(err, b"cannot fork the builder");
            }
            if pid == 0 {
                self.builder_main();
            }
            loop {
                let mut status: libc::c_int = 0;
                let r = libc::waitpid(pid, &mut status, 0);
                if r == pid {
                    if libc::WIFEXITED(status) {
                        libc::_exit(libc::WEXITSTATUS(status));
                    }
                    if libc::WIFSIGNALED(status) {
                        // Die the same way, so the parent sees the signal.
                        let sig = libc::WTERMSIG(status);
                        libc::signal(sig, libc::SIG_DFL);
                        libc::kill(libc::getpid(), sig);
                        libc::_exit(128 + sig);
                    }
                }
                if r < 0 && *libc::__errno_location() != libc::EINTR {
                    libc::_exit(127);
                }
            }
        }
    }

    /// PID 1 of the sandbox: builds the root, enters it and executes the builder.
    fn builder_main(&self) -> ! {
        // SAFETY: as in `helper_main`: only system call wrappers, on memory prepared before
        // the fork; nothing allocates.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            for step in &self.spec.steps {
                run_step(ERR_FD, step);
            }
            let host = b"localhost";
            if libc::sethostname(host.as_ptr().cast(), host.len()) != 0 {
                die(ERR_FD, b"cannot set the host name");
            }
            if self.spec.new_net {
                loopback_up();
            }
            if libc::chdir(self.spec.root.as_ptr()) != 0 {
                die(ERR_FD, b"cannot enter the sandbox root");
            }
            let dot = c".";
            if libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) != 0 {
                die(ERR_FD, b"pivot_root failed");
            }
            if libc::umount2(dot.as_ptr(), libc::MNT_DETACH) != 0 {
                die(ERR_FD, b"cannot detach the old root");
            }
            if libc::chdir(c"/build".as_ptr()) != 0 {
                die(ERR_FD, b"cannot enter /build");
            }
            libc::execve(
                self.spec.builder.as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            );
            die(ERR_FD, b"cannot execute the builder");
        }
    }
}

/// Writes `data` to `path` (which must exist); dies on failure. Async-signal-safe.
fn write_file(err: libc::c_int, path: &std::ffi::CStr, data: &[u8], what: &[u8]) {
    // SAFETY: `path` is NUL-terminated and `data` valid for reads; plain system calls.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 || libc::write(fd, data.as_ptr().cast(), data.len()) != data.len() as isize {
            die(err, what);
        }
        libc::close(fd);
    }
}

/// Performs one prepared step; dies on failure of a required one. Async-signal-safe.
fn run_step(err: libc::c_int, step: &Step) {
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: all pointers are to NUL-terminated strings or buffers owned by `step`, which
    // outlives the calls; the calls are plain system call wrappers.
    unsafe {
        match step {
            Step::Mount {
                src,
                dst,
                fstype,
                flags,
                data,
                optional,
            } => {
                let r = libc::mount(
                    ptr(src),
                    dst.as_ptr(),
                    ptr(fstype),
                    *flags,
                    ptr(data).cast(),
                );
                if r != 0 && !optional {
                    die2(err, b"mount failed on ", dst.as_bytes());
                }
            }
            Step::Mkdir(path) => {
                if libc::mkdir(path.as_ptr(), 0o755) != 0
                    && *libc::__errno_location() != libc::EEXIST
                {
                    die2(err, b"cannot create directory ", path.as_bytes());
                }
            }
            Step::Touch { path, optional } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
                    0o644,
                );
                if fd < 0 {
                    if !optional {
                        die2(err, b"cannot create ", path.as_bytes());
                    }
                } else {
                    libc::close(fd);
                }
            }
            Step::Write { path, data } => {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                    0o644,
                );
                if fd < 0
                    || libc::write(fd, data.as_ptr().cast(), data.len()) != data.len() as isize
                {
                    die2(err, b"cannot write ", path.as_bytes());
                }
                libc::close(fd);
            }
            Step::Symlink { target, link } => {
                if libc::symlink(target.as_ptr(), link.as_ptr()) != 0 {
                    die2(err, b"cannot create symlink ", link.as_bytes());
                }
            }
        }
    }
}

/// Like [`die`] with a two-part message. Async-signal-safe.
fn die2(err: libc::c_int, a: &[u8], b: &[u8]) -> ! {
    // SAFETY: reading errno first, so the write below cannot clobber it.
    let saved = unsafe { *libc::__errno_location() };
    // SAFETY: `a` is valid for reads of its length.
    unsafe { libc::write(err, a.as_ptr().cast(), a.len()) };
    // SAFETY: errno is thread-local; restoring it for `die`.
    unsafe { *libc::__errno_location() = saved };
    die(err, b)
}

/// Brings up `lo` in the new network namespace (best effort). Async-signal-safe.
fn loopback_up() {
    // SAFETY: socket, ioctl and close are system calls; `req` is a zeroed ifreq on the stack
    // that outlives the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS, &mut req);
        }
        libc::close(fd);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn mirror_urls() {
        let m = Some("file:///srv/debian/");
        assert_eq!(
            resolve_mirror_url("mirror://debian/pool/main/a/a.deb", m).unwrap(),
            "file:///srv/debian/pool/main/a/a.deb"
        );
        assert_eq!(
            resolve_mirror_url("https://example.org/x.deb", None).unwrap(),
            "https://example.org/x.deb"
        );
        let e = resolve_mirror_url("mirror://debian/x.deb", Some(" ")).unwrap_err();
        assert!(e.contains("STRATA_DEBIAN_MIRROR"), "{e}");
    }
}
