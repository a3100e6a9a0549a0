//! A machine of a flake (`outputs.strataConfigurations.<name>`: a module, as a path, a set,
//! a function or a list of them) made a small configuration file that imports it, so the rest
//! of strata builds it as any `configuration.nix` (the fleet's trick, `crate::fleet`). The
//! file lives in a directory that lasts as long as the [`FlakeConfiguration`]; its path reaches
//! no generation. Also: evaluating a flake's outputs for `strata flake show`.

use std::path::{Path, PathBuf};

use strata_lang::Evaluator;
use strata_store::{LocalStore, StoreDir};

use super::fetch::FlakeRef;
use super::resolve::{lock_flake, LockMode, LockedFlake};
use super::FlakeError;
use crate::config::{self, nix_string};
use crate::eval_io::{error_text, StoreIo};
use crate::eval_thread;

/// A flake's machine, ready to build.
#[derive(Debug)]
pub struct FlakeConfiguration {
    pub name: String,
    /// The configuration file to build.
    pub configuration: PathBuf,
    pub flake: LockedFlake,
    _dir: tempfile::TempDir,
}

/// Splits `REF#NAME` (the name may be absent).
pub fn split_ref(text: &str) -> (&str, Option<&str>) {
    match text.rsplit_once('#') {
        Some((r, n)) => (r, Some(n)),
        None => (text, None),
    }
}

/// Evaluates `body` (an expression of `flake`, the flake as `self` sees it) to JSON. Nothing
/// the evaluation adds to the store is written.
pub fn eval_json(
    store_root: &Path,
    store_dir: &StoreDir,
    flake: &LockedFlake,
    body: &str,
) -> Result<serde_json::Value, FlakeError> {
    let expr = format!("let flake = {}; in {body}", flake.expression()?);
    eval_thread::run("flake", || -> Result<serde_json::Value, FlakeError> {
        let mut ev = StoreIo::read_only_evaluator(store_root, store_dir)?;
        let rendered =
            |ev: &Evaluator, e: strata_lang::EvalError| FlakeError::Eval(error_text(ev, &e));
        let v = ev.eval_string(&expr).map_err(|e| rendered(&ev, e))?;
        let v = ev
            .deep_force(&v, config::span())
            .map_err(|e| rendered(&ev, e))?;
        config::to_serde(&mut ev, &v).map_err(|e| rendered(&ev, e))
    })
    .map_err(|e| FlakeError::Strata(format!("evaluating {}: {e}", flake.reference)))?
}

/// The names of a flake's `strataConfigurations`.
pub fn configuration_names(
    store_root: &Path,
    store_dir: &StoreDir,
    flake: &LockedFlake,
) -> Result<Vec<String>, FlakeError> {
    let v = eval_json(
        store_root,
        store_dir,
        flake,
        "let c = flake.strataConfigurations or { }; in\n\
         if builtins.isAttrs c then builtins.attrNames c\n\
         else throw \"`strataConfigurations' is a ${builtins.typeOf c}, not a set of machines\"",
    )?;
    serde_json::from_value(v).map_err(|e| FlakeError::Strata(e.to_string()))
}

/// The configuration file of machine `name` of `flake`.
pub(super) fn wrapper(flake: &LockedFlake, name: &str) -> Result<String, FlakeError> {
    Ok(format!(
        "# Machine {name} of the flake {reference}, as `strata build --flake` builds it.\n\
         let\n  flake = {expr};\n  m = flake.strataConfigurations.{attr};\n\
         in {{ imports = if builtins.isList m then m else [ m ]; }}\n",
        reference = flake.reference,
        expr = flake.expression()?,
        attr = nix_string(name),
    ))
}

/// The host's name, which `--flake REF` without `#NAME` picks.
fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// `--flake REF#NAME` (`REF` relative to `cwd`; without `#NAME`, the host's name): the flake
/// locked (its lock written on first use) and the machine made a configuration file.
pub fn flake_configuration(
    store_root: &Path,
    store_dir: &StoreDir,
    text: &str,
    cwd: &Path,
) -> Result<FlakeConfiguration, FlakeError> {
    let (reference, name) = split_ref(text);
    let reference = FlakeRef::parse(reference, cwd)?;
    let name = match name {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => host_name().ok_or_else(|| {
            FlakeError::Strata(format!(
                "{text}: no configuration named, and the host has no name to pick one by \
                 (write REF#NAME)"
            ))
        })?,
    };
    let mut store = LocalStore::open(store_root, store_dir.clone())?;
    let flake = lock_flake(&mut store, &reference, LockMode::Keep)?;
    drop(store);
    let names = configuration_names(store_root, store_dir, &flake)?;
    if !names.contains(&name) {
        let known = if names.is_empty() {
            "it has no strataConfigurations".to_owned()
        } else {
            format!("its configurations: {}", names.join(", "))
        };
        return Err(FlakeError::Strata(format!(
            "the flake {reference} has no strataConfigurations.{name} ({known})"
        )));
    }
    let dir = tempfile::Builder::new()
        .prefix("strata-flake-")
        .tempdir()
        .map_err(|e| FlakeError::Io {
            context: "cannot make a directory for the flake's configuration".into(),
            source: e,
        })?;
    let configuration = dir.path().join("configuration.nix");
    std::fs::write(&configuration, wrapper(&flake, &name)?).map_err(|e| FlakeError::Io {
        context: format!("cannot write '{}'", configuration.display()),
        source: e,
    })?;
    Ok(FlakeConfiguration {
        name,
        configuration,
        flake,
        _dir: dir,
    })
}
