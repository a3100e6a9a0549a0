//! A fleet file (`strata deploy -f fleet.nix`): a set of `defaults` (a module added to every
//! machine) and `machines.<name>` (each a module, a set or a function as a `configuration.nix`
//! is), evaluated into one configuration per machine with the `deployment.*` options
//! ([`DEPLOYMENT_MODULE`]) declared besides strata's own.
//!
//! Each machine becomes a small configuration file of its own ([`FleetMachine::configuration`],
//! in a directory that lives as long as the [`Fleet`]) that imports the fleet file's
//! `defaults` and the machine, and sets `networking.hostName` to the machine's name by default
//! (as NixOps and colmena do), so the rest of strata builds it as any configuration; the path
//! of that file reaches no generation. [`read_fleet`] evaluates every machine's `deployment`
//! values (and nothing else of it) with one evaluator, so the package set is read once.
//!
//! A flake names a fleet as its `outputs.deploy`, of the same shape ([`FleetSource::Flake`]);
//! its machines are then evaluated purely, as a flake's machines are
//! ([`crate::flake::machine`]).
//!
//! Must not: touch the store beyond the lock's digest: the evaluation's additions are never
//! committed (the builds, later, make what they need).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strata_lang::{EvalError, Evaluator};
use strata_store::{LocalStore, StoreDir};

use crate::config::{self, nix_string, span};
use crate::debian::lock::LockFile;
use crate::eval_io::{error_text, Pure, StoreIo};
use crate::eval_thread;
use crate::flake::LockedFlake;
use crate::system::{load_digest, StrataSelf, SystemError};

/// The module that declares `deployment.*`, relative to strata's module directory.
pub const DEPLOYMENT_MODULE: &str = "misc/deployment.nix";

/// Where a machine is reached, and its tags (the `deployment` options).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub target_host: Option<String>,
    pub target_port: Option<u16>,
    pub target_user: Option<String>,
    pub tags: Vec<String>,
}

/// One machine of a fleet.
#[derive(Debug, Clone)]
pub struct FleetMachine {
    pub name: String,
    /// The configuration to build for it (see the module documentation).
    pub configuration: PathBuf,
    pub deployment: Deployment,
}

/// Where a fleet is written.
#[derive(Debug, Clone, Copy)]
pub enum FleetSource<'a> {
    /// A fleet file.
    File(&'a Path),
    /// A flake's `outputs.deploy`, evaluated purely unless `impure`.
    Flake {
        flake: &'a LockedFlake,
        impure: bool,
    },
}

/// A fleet, read.
#[derive(Debug)]
pub struct Fleet {
    /// Where it is written, as errors name it (the file, or `FLAKE#deploy`).
    pub shown: String,
    /// In the order of their names.
    pub machines: Vec<FleetMachine>,
    /// How the machines are evaluated: `Some` for a flake's fleet without `--impure`.
    pub pure: Option<Pure>,
    /// Holds the machines' configuration files.
    _dir: tempfile::TempDir,
}

/// A fleet source, resolved: how errors name it and the Nix expression of its fleet.
struct Resolved {
    shown: String,
    expr: String,
}

fn resolve(source: FleetSource<'_>) -> Result<Resolved, SystemError> {
    match source {
        FleetSource::File(file) => {
            let file = std::path::absolute(file).map_err(|e| SystemError::Io {
                context: format!("cannot resolve '{}'", file.display()),
                source: e,
            })?;
            if !file.is_file() {
                return Err(SystemError::Strata(format!(
                    "the fleet file '{}' does not exist",
                    file.display()
                )));
            }
            Ok(Resolved {
                shown: file.display().to_string(),
                expr: format!("import {}", nix_string(&file.display().to_string())),
            })
        }
        FleetSource::Flake { flake, .. } => {
            let shown = format!("{}#deploy", flake.reference);
            let expr = flake
                .expression()
                .map_err(|e| SystemError::Strata(e.to_string()))?;
            Ok(Resolved {
                expr: format!(
                    "(let flake = {expr}; in flake.outputs.deploy or (throw {}))",
                    nix_string(&format!(
                        "the flake {} has no outputs.deploy (a fleet: `defaults' and `machines')",
                        flake.reference
                    ))
                ),
                shown,
            })
        }
    }
}

/// Whether `name` can name a machine: what `--on` and the result table show, and (when it is
/// a valid host name) the default `networking.hostName`.
fn check_name(file: &str, name: &str) -> Result<(), SystemError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && !name.starts_with(['-', '.', '@'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(SystemError::Strata(format!(
            "{file}: the machine name {name:?} is not usable: a machine's name is letters, \
             digits, '-', '_' and '.', and does not start with '-', '.' or '@'"
        )))
    }
}

/// Whether `name` is a host name NixOS's `networking.hostName` takes (one label).
fn is_host_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The configuration file of machine `name` of the fleet `fleet` (shown as `file`).
fn machine_configuration(file: &str, fleet: &str, name: &str) -> String {
    let host = if is_host_label(name) {
        format!(
            "  networking.hostName = lib.mkDefault {};\n",
            nix_string(name)
        )
    } else {
        String::new()
    };
    format!(
        "# Machine {name} of {file}, as `strata deploy` builds it.\n\
         {{ lib, ... }}:\n\
         let fleet = {fleet}; in\n\
         {{\n  \
           imports = lib.optional (fleet ? defaults) fleet.defaults\n    \
             ++ [ fleet.machines.{attr} ];\n\
         {host}\
         }}\n",
        attr = nix_string(name),
    )
}

/// The names of the fleet's machines, after checking its shape.
fn machine_names(ev: &mut Evaluator, fleet: &Resolved) -> Result<Vec<String>, EvalError> {
    let f = &fleet.expr;
    let shown = nix_string(&fleet.shown);
    let check = format!(
        "let f = {f}; where = {shown}; in\n\
         if !builtins.isAttrs f then\n  \
           throw \"${{where}}: a fleet file is a set with `defaults' and `machines', not a ${{builtins.typeOf f}}\"\n\
         else let other = builtins.filter (n: n != \"defaults\" && n != \"machines\") (builtins.attrNames f); in\n\
         if other != [ ] then\n  \
           throw \"${{where}}: unknown attribute `${{builtins.head other}}' (a fleet file has `defaults' and `machines')\"\n\
         else if !(f ? machines) then throw \"${{where}}: no `machines'\"\n\
         else if !builtins.isAttrs f.machines then\n  \
           throw \"${{where}}: `machines' is a ${{builtins.typeOf f.machines}}, not a set of machines\"\n\
         else if f.machines == {{ }} then throw \"${{where}}: `machines' is empty\"\n\
         else builtins.attrNames f.machines"
    );
    let v = ev.eval_string(&check)?;
    config::to_serde(ev, &v)
}

/// Reads the fleet `source`: every machine's name, configuration and `deployment` values;
/// see the module documentation. `lock` is the Debian suite every machine's `pkgs` comes from.
pub fn read_fleet(
    store_root: &Path,
    store_dir: &StoreDir,
    source: FleetSource<'_>,
    lock: &LockFile,
    lock_file: Option<&Path>,
    strata: &StrataSelf,
    mirror: Option<String>,
) -> Result<Fleet, SystemError> {
    let fleet = resolve(source)?;
    let dir = tempfile::Builder::new()
        .prefix("strata-fleet-")
        .tempdir()
        .map_err(|e| SystemError::Io {
            context: "cannot make a directory for the fleet's configurations".into(),
            source: e,
        })?;
    let modules = strata.modules.clone();
    let deployment_module = modules.join(DEPLOYMENT_MODULE);
    if !deployment_module.is_file() {
        return Err(SystemError::Strata(format!(
            "strata's module {} is missing (the module directory {} is incomplete)",
            deployment_module.display(),
            modules.display()
        )));
    }
    let mut store = LocalStore::open(store_root, store_dir.clone())?;
    let digest = load_digest(&mut store, lock, lock_file, mirror)?;
    let where_to = dir.path().to_owned();
    let pure = match source {
        FleetSource::Flake { impure, .. } => {
            crate::flake::machine::purity(impure, &[dir.path(), modules.as_path()])
        }
        FleetSource::File(_) => None,
    };
    let machines = eval_thread::run("fleet", || -> Result<Vec<FleetMachine>, SystemError> {
        // Nothing the evaluation adds is committed: the builds make what they need.
        let mut ev = StoreIo::read_only_evaluator(store_root, store_dir, pure.clone())?;
        let rendered = |ev: &Evaluator, e: EvalError| SystemError::Eval(error_text(ev, &e));
        ev.sources.add_library_dir(modules.join("lib"));
        ev.sources.add_library_dir(modules.clone());
        let names = machine_names(&mut ev, &fleet).map_err(|e| rendered(&ev, e))?;
        let pkgs = crate::pkgs::eval_pkgs(&mut ev, &modules, lock, &digest)
            .map_err(|e| rendered(&ev, e))?;
        let select = ev
            .eval_string("whole: whole.config.deployment")
            .map_err(|e| rendered(&ev, e))?;
        let mut machines = Vec::new();
        for (i, name) in names.into_iter().enumerate() {
            check_name(&fleet.shown, &name)?;
            let configuration = where_to.join(format!("machine-{i}.nix"));
            let text = machine_configuration(&fleet.shown, &fleet.expr, &name);
            fs::write(&configuration, text).map_err(|e| SystemError::Io {
                context: format!("cannot write '{}'", configuration.display()),
                source: e,
            })?;
            let in_machine = |ev: &Evaluator, e: EvalError| {
                SystemError::Eval(format!("machine {name}: {}", error_text(ev, &e)))
            };
            let whole = config::eval_config_set_with(
                &mut ev,
                &modules,
                &configuration,
                std::slice::from_ref(&deployment_module),
                Some(pkgs.clone()),
            )
            .map_err(|e| in_machine(&ev, e))?;
            let d = ev
                .call(&select, whole, span())
                .and_then(|d| ev.deep_force(&d, span()))
                .map_err(|e| in_machine(&ev, e))?;
            let deployment: Deployment =
                config::to_serde(&mut ev, &d).map_err(|e| in_machine(&ev, e))?;
            machines.push(FleetMachine {
                name,
                configuration,
                deployment,
            });
        }
        Ok(machines)
    })
    .map_err(|e| SystemError::Strata(format!("the fleet's evaluation: {e:?}")))??;
    Ok(Fleet {
        shown: fleet.shown,
        machines,
        pure,
        _dir: dir,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn machine_names_are_checked_and_host_labels_become_host_names() {
        let f = "/x/fleet.nix";
        for ok in ["web1", "db_a", "eu.web-2"] {
            check_name(f, ok).unwrap();
        }
        for bad in ["", "@web", "-x", "a b", "a/b", "ä"] {
            let e = check_name(f, bad).unwrap_err().to_string();
            assert!(
                e.contains("/x/fleet.nix") && e.contains("not usable"),
                "{e}"
            );
        }
        let c = machine_configuration(f, "import \"/x/fleet.nix\"", "web1");
        assert!(
            c.contains("networking.hostName = lib.mkDefault \"web1\""),
            "{c}"
        );
        assert!(c.contains("fleet.machines.\"web1\""), "{c}");
        let c = machine_configuration(f, "import \"/x/fleet.nix\"", "eu.web-2");
        assert!(!c.contains("hostName"), "{c}");
    }
}
