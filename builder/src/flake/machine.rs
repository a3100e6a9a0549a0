//! A machine of a flake (`outputs.strataConfigurations.<name>`: a module, as a path, a set,
//! a function or a list of them) made a small configuration file that imports it, so the rest
//! of strata builds it as any `configuration.nix` (the fleet's trick, `crate::fleet`). The
//! file lives in a directory that lasts as long as the [`FlakeConfiguration`]; its path reaches
//! no generation. Also: evaluating a flake's outputs for `strata flake show`.
//!
//! A flake is evaluated purely ([`Pure`]), as Nix evaluates flakes: it reads its own tree and
//! its inputs (all in the store), the store, strata's module set and the file made here,
//! nothing else of the host, and no environment variables; `impure` (`--impure`) lifts it.

use std::path::{Path, PathBuf};

use strata_lang::Evaluator;
use strata_store::{LocalStore, StoreDir};

use super::fetch::FlakeRef;
use super::resolve::{lock_flake, lock_flake_with, LockMode, LockedFlake};
use super::FlakeError;
use crate::config::{self, nix_string};
use crate::eval_io::{error_text, Pure, StoreIo};
use crate::eval_thread;

/// A flake's machine, ready to build.
#[derive(Debug)]
pub struct FlakeConfiguration {
    pub name: String,
    /// The configuration file to build.
    pub configuration: PathBuf,
    pub flake: LockedFlake,
    /// How it is evaluated: `None` with `--impure`.
    pub pure: Option<Pure>,
    /// Holds `configuration` (and the file [`FlakeConfiguration::record`] writes).
    dir: tempfile::TempDir,
}

impl FlakeConfiguration {
    /// The file an image or a VM keeps as `/etc/strata/configuration.nix`: the machine's
    /// configuration lives in the flake, which the image does not hold, so the file names the
    /// flake (and its revision) and, evaluated, says how to rebuild from it, rather than
    /// letting `strata switch` on the machine build something else.
    pub fn record(&self) -> Result<PathBuf, FlakeError> {
        let reference = format!("{}#{}", self.flake.reference, self.name);
        let source = &self.flake.source;
        let revision = match (&source.rev, &source.dirty_rev) {
            (Some(r), _) => format!("revision {r}"),
            (None, Some(r)) => format!("revision {r} (uncommitted changes)"),
            (None, None) => format!("tree {}", source.nar_hash.to_sri()),
        };
        let text = format!(
            "# This machine was built from the flake {reference}, {revision},\n\
             # not from a configuration file. Rebuild it from the flake:\n\
             #   strata switch --flake '{reference}'\n\
             throw {}\n",
            nix_string(&format!(
                "this machine was built from the flake {reference} ({revision}): rebuild it \
                 with `strata switch --flake '{reference}'`"
            ))
        );
        let file = self.dir.path().join("recorded-configuration.nix");
        std::fs::write(&file, text).map_err(|e| FlakeError::Io {
            context: format!("cannot write '{}'", file.display()),
            source: e,
        })?;
        Ok(file)
    }
}

/// The lock of a flake's package-set input (`inputs.strata`, see
/// [`crate::sources::PACKAGE_SET_INPUT`]): where it is on disk (in the store) and how to name
/// it; `None` when the flake has no such input. An input `strata` whose tree holds no lock is
/// an error: it would otherwise be taken for a pin that is not there.
pub fn package_set_lock(
    store: &LocalStore,
    flake: &LockedFlake,
) -> Result<Option<(PathBuf, String)>, FlakeError> {
    let input = crate::sources::PACKAGE_SET_INPUT;
    let Some(target) = flake
        .lock
        .nodes
        .get(&flake.lock.root)
        .and_then(|r| r.inputs.get(input))
    else {
        return Ok(None);
    };
    let node = super::resolve::resolve_target(&flake.lock, target)?;
    let fetched = flake
        .sources
        .get(&node)
        .ok_or_else(|| FlakeError::Strata(format!("the lock's node {node:?} was not fetched")))?;
    let path = store
        .parse_path(&fetched.store_path)
        .map_err(|e| FlakeError::Strata(format!("{}: {e}", fetched.store_path)))?;
    let tree = store.real_path(&path);
    let lock = crate::sources::lock_in_tree(&tree).ok_or_else(|| {
        FlakeError::Strata(format!(
            "the flake {}'s input '{input}' ({}) holds no strata.lock (at its top, or \
             examples/strata.lock in strata's source tree): it names no package set",
            flake.reference, fetched.store_path
        ))
    })?;
    let shown = format!(
        "input '{input}' of {} ({})",
        flake.reference, fetched.store_path
    );
    Ok(Some((lock, shown)))
}

/// The pure evaluation of a flake, or `None` when `impure`: strata's module set and `extra`
/// (files strata wrote to name the flake's machines) readable besides the store.
pub fn purity(impure: bool, extra: &[&Path]) -> Option<Pure> {
    if impure {
        return None;
    }
    let mut allowed: Vec<PathBuf> = config::modules_dir().into_iter().collect();
    allowed.extend(extra.iter().map(|p| p.to_path_buf()));
    Some(Pure::new(allowed))
}

/// Splits `REF#NAME` (the name may be absent).
pub fn split_ref(text: &str) -> (&str, Option<&str>) {
    match text.rsplit_once('#') {
        Some((r, n)) => (r, Some(n)),
        None => (text, None),
    }
}

/// Evaluates `body` (an expression of `flake`, the flake as `self` sees it) to JSON, purely.
/// Nothing the evaluation adds to the store is written.
pub fn eval_json(
    store_root: &Path,
    store_dir: &StoreDir,
    flake: &LockedFlake,
    body: &str,
) -> Result<serde_json::Value, FlakeError> {
    eval_json_as(store_root, store_dir, flake, body, false)
}

/// [`eval_json`], impurely when `impure` (`--impure`).
pub fn eval_json_as(
    store_root: &Path,
    store_dir: &StoreDir,
    flake: &LockedFlake,
    body: &str,
    impure: bool,
) -> Result<serde_json::Value, FlakeError> {
    let expr = format!("let flake = {}; in {body}", flake.expression()?);
    eval_thread::run("flake", || -> Result<serde_json::Value, FlakeError> {
        let mut ev = StoreIo::read_only_evaluator(store_root, store_dir, purity(impure, &[]))?;
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
    impure: bool,
) -> Result<Vec<String>, FlakeError> {
    let v = eval_json_as(
        store_root,
        store_dir,
        flake,
        "let c = flake.strataConfigurations or { }; in\n\
         if builtins.isAttrs c then builtins.attrNames c\n\
         else throw \"`strataConfigurations' is a ${builtins.typeOf c}, not a set of machines\"",
        impure,
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
/// locked (its lock written on first use) and the machine made a configuration file, to be
/// evaluated purely unless `impure`. `overrides` (`--override-input`) take inputs from
/// elsewhere for this build; with any, the lock file is left as it is, as Nix leaves it.
pub fn flake_configuration(
    store_root: &Path,
    store_dir: &StoreDir,
    text: &str,
    cwd: &Path,
    impure: bool,
    overrides: &[(String, FlakeRef)],
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
    let flake = lock_flake_with(
        &mut store,
        &reference,
        LockMode::Keep,
        overrides,
        overrides.is_empty(),
    )?;
    drop(store);
    let names = configuration_names(store_root, store_dir, &flake, impure)?;
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
        pure: purity(impure, &[dir.path()]),
        configuration,
        flake,
        dir,
    })
}

/// The Nix system strata builds for here (`x86_64-linux`), as `devShells.<system>` names it.
pub fn system() -> String {
    format!("{}-linux", std::env::consts::ARCH)
}

/// A development shell of a flake (`devShells.<system>.<name>`) made a shell file for
/// `strata shell`: the shell as a `shell.nix` would be, a function of `pkgs` (or a path to
/// such a file, or a value). The file lasts as long as this value.
#[derive(Debug)]
pub struct FlakeShell {
    pub name: String,
    pub file: PathBuf,
    pub flake: LockedFlake,
    /// How it is evaluated: `None` with `--impure`.
    pub pure: Option<Pure>,
    _dir: tempfile::TempDir,
}

/// `strata shell --flake REF#NAME` (without `#NAME`, `default`): the flake locked and its
/// shell made a shell file.
pub fn flake_shell(
    store_root: &Path,
    store_dir: &StoreDir,
    text: &str,
    cwd: &Path,
    impure: bool,
) -> Result<FlakeShell, FlakeError> {
    let (reference, name) = split_ref(text);
    let reference = FlakeRef::parse(reference, cwd)?;
    let name = name
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
        .to_owned();
    let mut store = LocalStore::open(store_root, store_dir.clone())?;
    let flake = lock_flake(&mut store, &reference, LockMode::Keep)?;
    drop(store);
    let system = system();
    let names = eval_json_as(
        store_root,
        store_dir,
        &flake,
        &format!(
            "let s = (flake.outputs.devShells or {{ }}).{} or {{ }}; in\n\
             if builtins.isAttrs s then builtins.attrNames s\n\
             else throw \"`devShells.{system}' is a ${{builtins.typeOf s}}, not a set of shells\"",
            nix_string(&system)
        ),
        impure,
    )?;
    let names: Vec<String> =
        serde_json::from_value(names).map_err(|e| FlakeError::Strata(e.to_string()))?;
    if !names.contains(&name) {
        let known = if names.is_empty() {
            format!("it has no devShells.{system}")
        } else {
            format!("its shells: {}", names.join(", "))
        };
        return Err(FlakeError::Strata(format!(
            "the flake {reference} has no devShells.{system}.{name} ({known})"
        )));
    }
    let dir = tempfile::Builder::new()
        .prefix("strata-flake-shell-")
        .tempdir()
        .map_err(|e| FlakeError::Io {
            context: "cannot make a directory for the flake's shell".into(),
            source: e,
        })?;
    let file = dir.path().join("shell.nix");
    let text = format!(
        "# The shell {name} of the flake {reference}, as `strata shell --flake` reads it.\n\
         let\n  flake = {expr};\n  s = flake.outputs.devShells.{system}.{attr};\n\
         in if builtins.isPath s || builtins.isString s then import s else s\n",
        expr = flake.expression()?,
        system = nix_string(&system),
        attr = nix_string(&name),
    );
    std::fs::write(&file, text).map_err(|e| FlakeError::Io {
        context: format!("cannot write '{}'", file.display()),
        source: e,
    })?;
    Ok(FlakeShell {
        name,
        pure: purity(impure, &[dir.path()]),
        file,
        flake,
        _dir: dir,
    })
}

#[cfg(test)]
mod purity {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A `path:` flake whose outputs read the host and its environment, locked.
    fn flake(d: &Path, outputs: &str) -> (PathBuf, LockedFlake) {
        let top = d.join("top");
        std::fs::create_dir_all(&top).unwrap();
        std::fs::write(
            top.join("flake.nix"),
            format!("{{ outputs = {{ self }}: {outputs}; }}\n"),
        )
        .unwrap();
        std::fs::write(top.join("mine.txt"), "in the flake\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", top.join("escape")).unwrap();
        let root = d.join("store");
        let mut store = LocalStore::open(&root, StoreDir::default()).unwrap();
        let r = FlakeRef::parse(".", &top).unwrap();
        (root, lock_flake(&mut store, &r, LockMode::Keep).unwrap())
    }

    #[test]
    fn a_flake_reads_only_its_tree_and_no_environment_unless_impure() {
        let d = tempfile::tempdir().unwrap();
        let (root, f) = flake(
            d.path(),
            "{ own = builtins.readFile ./mine.txt; path = builtins.getEnv \"PATH\"; \
             passwd = builtins.readFile /etc/passwd; exists = builtins.pathExists /etc/passwd; \
             up = builtins.readFile (self.outPath + \"/../../../../../../etc/passwd\"); \
             link = builtins.readFile ./escape; copy = \"${/etc/passwd}\"; \
             fetched = builtins.fetchurl \"file:///etc/passwd\"; }",
        );
        let dir = StoreDir::default();
        let eval = |body: &str, impure: bool| eval_json_as(&root, &dir, &f, body, impure);
        assert_eq!(eval("flake.own", false).unwrap(), "in the flake\n");
        assert_eq!(eval("flake.path", false).unwrap(), "");
        assert_eq!(eval("flake.exists", false).unwrap(), false);
        for (attr, named) in [
            ("passwd", "'/etc/passwd'"),
            ("up", "/../etc/passwd'"),
            ("link", "escape' (it leads to '/etc/passwd')"),
            ("copy", "'/etc/passwd'"),
        ] {
            let e = eval(&format!("flake.{attr}"), false)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(named) && e.contains("pure evaluation") && e.contains("use --impure"),
                "{attr}: {e}"
            );
        }
        let e = eval("flake.fetched", false).unwrap_err().to_string();
        assert!(
            e.contains("without the hash") && e.contains("--impure"),
            "{e}"
        );

        // --impure: the host and its environment.
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        assert_eq!(eval("flake.passwd", true).unwrap(), passwd.as_str());
        assert_eq!(eval("flake.link", true).unwrap(), passwd.as_str());
        assert_eq!(
            eval("flake.path", true).unwrap(),
            std::env::var("PATH").unwrap().as_str()
        );
        assert_eq!(eval("flake.exists", true).unwrap(), true);
    }
}
