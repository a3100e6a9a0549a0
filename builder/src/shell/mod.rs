//! Development shells (`strata shell`): Debian packages of the pinned suite, with their
//! closure and the suite's Essential set, joined into a usr-merged tree and laid over `/usr`
//! in a private mount namespace, where they run as on a Debian machine.
//!
//! [`prepare`] evaluates what the shell is made of ([`eval`]: `-p` names, or a shell.nix as
//! nix-shell reads it, through `pkgs.mkShell`), builds the tree and what the shell's variables
//! refer to, and makes them GC roots while the shell runs ([`roots`]), all while holding the
//! garbage collector off; a `-p` shell evaluated before is read from [`cache`] instead. [`enter`] plans the file system ([`mounts`]: the host's, with the
//! tree's `usr` on `/usr`, `/bin`, `/sbin`, `/lib`, `/lib64` linked into it, its loader cache
//! on `/etc/ld.so.cache` and the store on its logical directory), chooses the program and
//! environment ([`env`]) and runs it in new user and mount namespaces ([`ns`]): no root, no
//! setuid helper, the user's own ids.
//!
//! Must not: change the host (nothing is installed anywhere but the store), or leave a root
//! behind when the shell ends.

pub mod cache;
pub mod env;
pub mod eval;
pub mod mounts;
pub mod ns;
pub mod roots;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use strata_lang::Evaluator;
use strata_store::{LocalStore, StoreDir, StoreError, StorePath};

use crate::debian::lock::LockFile;
use crate::eval_io::StoreIo;
use crate::scheduler::{realise_all, SchedulerError, SchedulerOptions};
use crate::system::{load_digest_for_build, SystemError};
use crate::userspace::{LD_CACHE, TOP_LINKS};

pub use env::{Action, PURE_KEEP};
pub use eval::EvaluatedShell;

/// What a shell is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellSource {
    /// `-p NAME...`: attribute paths of the package set.
    Packages(Vec<String>),
    /// A shell.nix (or default.nix).
    File(PathBuf),
}

/// An argument for a shell file's function (`--arg NAME EXPR`, `--argstr NAME VALUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoArg {
    Expr(String),
    Str(String),
}

/// Why a shell could not be made or entered.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Eval(String),
    #[error("there is no package '{name}' in {set}.{hint}")]
    UnknownPackage {
        name: String,
        set: String,
        hint: String,
    },
    #[error(
        "{what} evaluates to {found}, not a shell; a shell is made by mkShell: \
         `{{ pkgs ? import <nixpkgs> {{ }} }}: pkgs.mkShell {{ packages = [ ... ]; }}`"
    )]
    NotAShell { what: String, found: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Build(#[from] SchedulerError),
    #[error(transparent)]
    System(#[from] SystemError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("cannot lay out the shell's file system: {0}")]
    Plan(#[from] mounts::PlanError),
    #[error(transparent)]
    Ns(#[from] ns::NsError),
}

fn io_ctx(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ShellError {
    let context = context.into();
    move |source| ShellError::Io { context, source }
}

/// What [`prepare`] needs besides the store.
#[derive(Debug, Clone)]
pub struct ShellRequest<'a> {
    pub source: ShellSource,
    pub auto_args: Vec<(String, AutoArg)>,
    pub lock: &'a LockFile,
    /// Where the lock was read from (a digest shipped beside it is used if the store lacks it).
    pub lock_file: &'a Path,
    /// strata's module directory.
    pub modules: &'a Path,
    /// Evaluate purely (a flake's shell without `--impure`): see [`crate::eval_io::Pure`].
    pub pure: Option<&'a crate::eval_io::Pure>,
}

/// A shell whose tree is built and rooted, ready to [`enter`].
#[derive(Debug)]
pub struct PreparedShell {
    /// The tree's store path and where it is on disk.
    pub tree: StorePath,
    /// The tree's path as the shell sees it (the logical store path).
    pub tree_printed: String,
    pub tree_real: PathBuf,
    pub evaluated: EvaluatedShell,
    /// The physical store directory and the logical one, when they differ.
    pub store_dirs: Option<(PathBuf, PathBuf)>,
    /// Held until the shell ends.
    pub roots: roots::ShellRoots,
}

/// Evaluates, builds and roots the shell `req` describes (see the module documentation).
/// Runs the evaluation on a thread with the evaluator's stack.
pub fn prepare(
    store_root: &Path,
    store_dir: &StoreDir,
    req: &ShellRequest<'_>,
    opts: &SchedulerOptions,
) -> Result<PreparedShell, ShellError> {
    let mut store = LocalStore::open(store_root, store_dir.clone())?;
    roots::prune(&store);
    // Until the roots exist, nothing made or used here may be collected.
    let hold = store.gc_hold()?;
    let key = match &req.source {
        ShellSource::Packages(names) => {
            cache::key(req.modules, req.lock, store_dir.as_str(), names)
        }
        ShellSource::File(_) => None,
    };
    let remembered = key
        .as_deref()
        .and_then(|k| cache::read(store.state_dir(), k))
        .filter(|e| e.drvs.is_empty())
        .map(|e| {
            let mut paths = vec![e.tree.clone()];
            paths.extend(e.paths.iter().cloned());
            let valid = paths.iter().all(|p| {
                store
                    .parse_path(p)
                    .is_ok_and(|p| store.is_valid(&p).unwrap_or(false))
            });
            (e, valid)
        })
        .filter(|(_, valid)| *valid)
        .map(|(e, _)| e);

    let (evaluated, tree, mut rooted) = match remembered {
        Some(e) => {
            let tree = store.parse_path(&e.tree).map_err(StoreError::from)?;
            (e.shell(), tree.clone(), BTreeSet::from([tree]))
        }
        None => {
            let evaluated = evaluate(&mut store, store_root, store_dir, req, opts)?;
            let tree_drv = store
                .parse_path(&evaluated.tree_drv)
                .map_err(StoreError::from)?;
            let mut targets = vec![tree_drv.clone()];
            for d in &evaluated.drvs {
                targets.push(store.parse_path(d).map_err(StoreError::from)?);
            }
            let outputs = realise_all(store_root, store_dir, &targets, opts)?;
            let tree = outputs
                .get(&tree_drv)
                .and_then(|o| o.get("out"))
                .cloned()
                .ok_or_else(|| ShellError::Eval("the shell's tree has no output 'out'".into()))?;
            if let Some(k) = &key {
                cache::write(
                    store.state_dir(),
                    k,
                    &cache::Entry::new(&evaluated, store.print(&tree)),
                );
            }
            let rooted = outputs.values().flat_map(|o| o.values()).cloned().collect();
            (evaluated, tree, rooted)
        }
    };
    for p in &evaluated.paths {
        let p = store.parse_path(p).map_err(StoreError::from)?;
        if !store.is_valid(&p)? {
            return Err(ShellError::Eval(format!(
                "the shell refers to {}, which is not in the store",
                store.print(&p)
            )));
        }
        rooted.insert(p);
    }
    let rooted: Vec<StorePath> = rooted.into_iter().collect();
    let roots = roots::ShellRoots::create(&store, &rooted)
        .map_err(io_ctx("cannot make the shell's GC roots"))?;
    drop(hold);

    let logical = PathBuf::from(store.store_dir().as_str());
    let physical = store.real_store_dir().to_owned();
    Ok(PreparedShell {
        tree_real: store.real_path(&tree),
        tree_printed: store.print(&tree),
        tree,
        evaluated,
        store_dirs: (physical != logical).then_some((physical, logical)),
        roots,
    })
}

/// Evaluates the package set and the shell, writing the `.drv`s into the store.
fn evaluate(
    store: &mut LocalStore,
    store_root: &Path,
    store_dir: &StoreDir,
    req: &ShellRequest<'_>,
    opts: &SchedulerOptions,
) -> Result<EvaluatedShell, ShellError> {
    let digest = load_digest_for_build(store, req.lock, Some(req.lock_file), opts)?;
    let set_name = format!(
        "Debian {} {} (the package set of {})",
        req.lock.suite,
        req.lock.architecture,
        req.lock_file.display()
    );
    crate::eval_thread::run("shell-eval", || {
        let io = Rc::new(
            StoreIo::deferred(LocalStore::open(store_root, store_dir.clone())?)
                .with_purity(req.pure.cloned()),
        );
        let mut ev = Evaluator::new(crate::eval_thread::eval_config(), io.clone());
        ev.reset_stack_base();
        let pkgs =
            crate::pkgs::eval_pkgs(&mut ev, req.modules, req.lock, &digest).map_err(|e| {
                ShellError::Eval(
                    e.render(&ev.sources)
                        .trim_start_matches("error: ")
                        .to_owned(),
                )
            })?;
        let shell = eval::evaluate(
            &mut ev,
            req.modules,
            &pkgs,
            &req.source,
            &req.auto_args,
            &set_name,
        )?;
        io.commit().map_err(|e| ShellError::Eval(e.to_string()))?;
        Ok::<_, ShellError>(shell)
    })
    .map_err(|_| ShellError::Eval("the shell's evaluation could not run to its end".into()))?
}

/// How to run the shell.
#[derive(Debug, Clone)]
pub struct EnterOptions {
    pub action: Action,
    pub pure: bool,
    /// Variables `--pure` keeps besides [`PURE_KEEP`].
    pub keep: Vec<String>,
}

/// Where `abs` (a path as the shell sees it) is in the tree, when it is in `/usr` or one of
/// the links into it.
fn in_tree(tree_real: &Path, abs: &Path) -> Option<PathBuf> {
    let rel = abs.strip_prefix("/").ok()?;
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_str()?;
    if first == "usr" {
        return Some(tree_real.join(rel));
    }
    let (_, target) = TOP_LINKS.iter().find(|(name, _)| *name == first)?;
    Some(tree_real.join(target).join(parts.as_path()))
}

/// The places the shell's file system takes from the tree and the store.
fn grafts(shell: &PreparedShell) -> BTreeMap<PathBuf, mounts::Graft> {
    use mounts::Graft;
    let mut g = BTreeMap::new();
    g.insert(
        PathBuf::from("/usr"),
        Graft::Bind {
            source: shell.tree_real.join("usr"),
            dir: true,
            read_only: true,
        },
    );
    for (name, target) in TOP_LINKS {
        g.insert(
            Path::new("/").join(name),
            Graft::Link {
                target: target.into(),
            },
        );
    }
    let cache = shell.tree_real.join(LD_CACHE);
    if cache.is_file() {
        g.insert(
            PathBuf::from("/etc/ld.so.cache"),
            Graft::Bind {
                source: cache,
                dir: false,
                read_only: false,
            },
        );
    }
    if let Some((physical, logical)) = &shell.store_dirs {
        g.insert(
            logical.clone(),
            Graft::Bind {
                source: physical.clone(),
                dir: true,
                read_only: true,
            },
        );
    }
    g
}

/// Runs the shell and returns its status (its exit code, or 128 + a signal).
pub fn enter(shell: &PreparedShell, opts: &EnterOptions) -> Result<i32, ShellError> {
    let tmp = tempfile::Builder::new()
        .prefix("strata-shell-")
        .tempdir()
        .map_err(io_ctx("cannot create a temporary directory"))?;
    let rc_file = tmp.path().join("rc");
    // The new root's mount point: the host's /usr, which the shell replaces anyway, unless
    // something the shell binds lives below it; else a directory of our own.
    let usr = Path::new("/usr");
    let store_under_usr = shell
        .store_dirs
        .as_ref()
        .is_some_and(|(p, _)| p.starts_with(usr));
    let root = if mounts::HostView::kind(&mounts::RealHost, usr) == Some(mounts::Kind::Dir)
        && !shell.tree_real.starts_with(usr)
        && !store_under_usr
    {
        usr.to_owned()
    } else {
        let r = tmp.path().join("root");
        std::fs::create_dir(&r).map_err(io_ctx(format!("cannot create '{}'", r.display())))?;
        r
    };
    let layout = mounts::plan(&mounts::RealHost, &root, &grafts(shell))?;

    let host_env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let tree_has = |p: &Path| in_tree(&shell.tree_real, p).is_some_and(|t| t.exists());
    let program = env::program(&env::EnvInputs {
        action: &opts.action,
        pure: opts.pure,
        keep: &opts.keep,
        host_env: &host_env,
        variables: &shell.evaluated.variables,
        shell_hook: &shell.evaluated.shell_hook,
        tree: &shell.tree_printed,
        tree_has: &tree_has,
        rc_file: &rc_file,
    });
    if let Some(rc) = &program.rc {
        std::fs::write(&rc_file, rc)
            .map_err(io_ctx(format!("cannot write '{}'", rc_file.display())))?;
    }
    let mut dirs = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        dirs.push(cwd);
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        dirs.push(PathBuf::from(home));
    }
    let status = ns::run(&ns::Launch {
        layout: &layout,
        program: &program.path,
        argv: &program.argv,
        env: &program.env,
        dirs: &dirs,
    })?;
    drop(tmp);
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_the_tree() {
        let t = Path::new("/s/tree");
        assert_eq!(
            in_tree(t, Path::new("/usr/bin/bash")),
            Some(PathBuf::from("/s/tree/usr/bin/bash"))
        );
        assert_eq!(
            in_tree(t, Path::new("/bin/zsh")),
            Some(PathBuf::from("/s/tree/usr/bin/zsh"))
        );
        assert_eq!(in_tree(t, Path::new("/opt/zsh")), None);
        assert_eq!(in_tree(t, Path::new("zsh")), None);
    }
}
