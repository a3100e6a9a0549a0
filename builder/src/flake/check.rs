//! `strata flake check`: every output of a flake evaluated (deeply, without building), and
//! each of its `strataConfigurations` evaluated with strata's option set and the package set
//! of `lock`, its assertions checked, as a build would; purely unless `--impure`, as a build
//! evaluates them.
//!
//! Must not: write to the store beyond the lock's digest (the evaluation's additions are never
//! committed).

use std::path::Path;

use strata_lang::Evaluator;
use strata_store::{LocalStore, StoreDir};

use super::machine::{configuration_names, purity, wrapper};
use super::resolve::LockedFlake;
use super::FlakeError;
use crate::config;
use crate::debian::lock::LockFile;
use crate::eval_io::{error_text, StoreIo};
use crate::eval_thread;
use crate::system::load_digest;

/// What a check found about one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub name: String,
    /// `Ok` with the configuration's warnings, or why it does not evaluate.
    pub result: Result<Vec<String>, CheckFailure>,
}

/// Why a configuration of a flake does not evaluate, or fails its assertions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CheckFailure(pub String);

/// What configurations are evaluated with: strata's module set and a package set.
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    pub modules: &'a Path,
    pub lock: &'a LockFile,
    /// Where `lock` was read from (a digest may be shipped beside it).
    pub lock_file: Option<&'a Path>,
    /// The Debian archive, should the digest have to be made.
    pub mirror: Option<String>,
    /// `--impure`: the flake's evaluation may read the host and its environment.
    pub impure: bool,
}

/// Checks `flake` (see the module documentation). An output that does not evaluate is an
/// error; each configuration's own result is reported in the list.
pub fn check(
    store_root: &Path,
    store_dir: &StoreDir,
    flake: &LockedFlake,
    with: Evaluation<'_>,
) -> Result<Vec<Checked>, FlakeError> {
    let Evaluation {
        modules,
        lock,
        lock_file,
        mirror,
        impure,
    } = with;
    let names = configuration_names(store_root, store_dir, flake, impure)?;
    let expr = format!(
        "let flake = {}; in builtins.removeAttrs flake.outputs [ \"strataConfigurations\" ]",
        flake.expression()?
    );
    let dir = tempfile::Builder::new()
        .prefix("strata-flake-check-")
        .tempdir()
        .map_err(|e| FlakeError::Io {
            context: "cannot make a directory for the flake's configurations".into(),
            source: e,
        })?;
    let mut wrappers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let file = dir.path().join(format!("machine-{i}.nix"));
        std::fs::write(&file, wrapper(flake, name)?).map_err(|e| FlakeError::Io {
            context: format!("cannot write '{}'", file.display()),
            source: e,
        })?;
        wrappers.push((name.clone(), file));
    }
    let digest = {
        let mut store = LocalStore::open(store_root, store_dir.clone())?;
        load_digest(&mut store, lock, lock_file, mirror)
            .map_err(|e| FlakeError::Strata(format!("the package set: {e}")))?
    };
    eval_thread::run("flake-check", || -> Result<Vec<Checked>, FlakeError> {
        let pure = purity(impure, &[dir.path()]);
        let mut ev = StoreIo::read_only_evaluator(store_root, store_dir, pure)?;
        let rendered = |ev: &Evaluator, e: strata_lang::EvalError| error_text(ev, &e);
        let outputs = ev
            .eval_string(&expr)
            .and_then(|v| ev.deep_force(&v, config::span()))
            .map_err(|e| FlakeError::Eval(format!("the outputs: {}", rendered(&ev, e))))?;
        drop(outputs);
        let pkgs = crate::pkgs::eval_pkgs(&mut ev, modules, lock, &digest)
            .map_err(|e| FlakeError::Eval(format!("the package set: {}", rendered(&ev, e))))?;
        let mut out = Vec::new();
        for (name, file) in &wrappers {
            let result = config::evaluate_with(&mut ev, modules, file, &[], Some(pkgs.clone()))
                .map(|(e, _, _)| e.warnings)
                .map_err(|e| CheckFailure(e.to_string()));
            out.push(Checked {
                name: name.clone(),
                result,
            });
        }
        Ok(out)
    })
    .map_err(|e| FlakeError::Strata(format!("checking {}: {e}", flake.reference)))?
}
