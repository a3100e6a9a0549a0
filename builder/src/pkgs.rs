//! The Debian package set as derivations: `modules/pkgs/debian.nix` applied to a lock.
//!
//! [`lock_to_nix_json`] turns a [`LockFile`] into the JSON that `builtins.fromJSON` makes the
//! `lock` argument of `debian.nix` from; [`eval_debian_pkgs`] evaluates the package set, whose
//! attributes are the locked packages (each a `builtin:unpack-deb` derivation) and `debs` (their
//! `builtin:fetchurl` derivations); [`drv_path`] reads one derivation's `.drv` path. With an
//! evaluator on [`StoreIo`](crate::eval_io::StoreIo) the `.drv` files are written into the
//! store, ready for [`scheduler::realise_all`](crate::scheduler::realise_all).

use std::path::{Path, PathBuf};

use serde::Serialize;
use strata_lang::value::{intern, Attrs, Value};
use strata_lang::{EvalError, Evaluator};

use crate::debian::lock::LockFile;

/// The package set's file below the `modules` directory.
pub const DEBIAN_NIX: &str = "pkgs/debian.nix";
/// The whole package set's file below the `modules` directory.
pub const DEFAULT_NIX: &str = "pkgs/default.nix";

#[derive(Serialize)]
struct NixLock<'a> {
    suite: &'a str,
    architecture: &'a str,
    packages: Vec<NixPackage<'a>>,
}

#[derive(Serialize)]
struct NixPackage<'a> {
    name: &'a str,
    version: &'a str,
    architecture: &'a str,
    filename: &'a str,
    size: u64,
    sha256: &'a str,
    depends: &'a [String],
}

/// The lock as JSON: `{ suite, architecture, packages: [ { name, version, architecture,
/// filename, size, sha256, depends } ] }` (packages in the lock's order).
pub fn lock_to_nix_json(lock: &LockFile) -> String {
    let value = NixLock {
        suite: &lock.suite,
        architecture: &lock.architecture,
        packages: lock
            .packages
            .iter()
            .map(|p| NixPackage {
                name: &p.name,
                version: &p.version,
                architecture: &p.architecture,
                filename: &p.filename,
                size: p.size,
                sha256: &p.sha256,
                depends: &p.depends,
            })
            .collect(),
    };
    // Strings, numbers and lists of strings: serialising cannot fail.
    serde_json::to_string(&value).unwrap_or_default()
}

/// `<modules>/pkgs/debian.nix`.
pub fn debian_nix(modules: &Path) -> PathBuf {
    modules.join(DEBIAN_NIX)
}

/// Evaluates `import <modules>/pkgs/debian.nix { lock = builtins.fromJSON <lock as JSON>; }`
/// and returns the package set (forced to a set; its attributes stay lazy).
pub fn eval_debian_pkgs(
    ev: &mut Evaluator,
    modules: &Path,
    lock: &LockFile,
) -> Result<Value, EvalError> {
    eval_with_lock(ev, modules, &debian_nix(modules), lock)
}

/// strata's whole package set, `<modules>/pkgs/default.nix` applied to the lock: the Debian
/// packages, the trivial builders and `busybox-applets` (what configurations see as `pkgs`).
pub fn eval_pkgs(ev: &mut Evaluator, modules: &Path, lock: &LockFile) -> Result<Value, EvalError> {
    eval_with_lock(ev, modules, &modules.join(DEFAULT_NIX), lock)
}

/// `import <nix_file> { lock = ...; }`, forced to a set.
fn eval_with_lock(
    ev: &mut Evaluator,
    modules: &Path,
    nix_file: &Path,
    lock: &LockFile,
) -> Result<Value, EvalError> {
    ev.sources.add_library_dir(modules.to_path_buf());
    let mut file = Vec::new();
    strata_lang::print::escape_string(nix_file.as_os_str().as_encoded_bytes(), &mut file);
    let f = ev.eval_string(&format!("import {}", String::from_utf8_lossy(&file)))?;
    let from_json = ev.eval_string("builtins.fromJSON")?;
    let lock_value = ev.call(
        &from_json,
        Value::str(lock_to_nix_json(lock)),
        crate::config::span(),
    )?;
    let arg = Value::attrs(Attrs::from_unsorted(vec![(intern("lock"), lock_value)]));
    let set = ev.call(&f, arg, crate::config::span())?;
    ev.force(&set, crate::config::span())
}

/// The attribute `name` of a set value (forced).
fn attr(ev: &mut Evaluator, set: &Value, name: &str) -> Result<Value, EvalError> {
    let set = ev.force(set, crate::config::span())?;
    let Value::Attrs(a) = &set else {
        return Err(EvalError::eval(
            format!("expected a set while looking up '{name}'"),
            crate::config::span(),
        ));
    };
    let v = a.get(name).cloned().ok_or_else(|| {
        EvalError::eval(format!("attribute '{name}' missing"), crate::config::span())
    })?;
    ev.force(&v, crate::config::span())
}

/// The `.drv` path of the derivation at the attribute path `path` (e.g. `["hello"]` or
/// `["debs", "hello"]`) of `set`.
pub fn drv_path(ev: &mut Evaluator, set: &Value, path: &[&str]) -> Result<String, EvalError> {
    let mut v = set.clone();
    for name in path {
        v = attr(ev, &v, name)?;
    }
    let p = attr(ev, &v, "drvPath")?;
    let s = ev.force_string(&p, crate::config::span())?;
    Ok(s.to_str_lossy().into_owned())
}

/// The `outPath` of the derivation at the attribute path `path` of `set`.
pub fn out_path(ev: &mut Evaluator, set: &Value, path: &[&str]) -> Result<String, EvalError> {
    let mut v = set.clone();
    for name in path {
        v = attr(ev, &v, name)?;
    }
    let p = attr(ev, &v, "outPath")?;
    let s = ev.force_string(&p, crate::config::span())?;
    Ok(s.to_str_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::rc::Rc;

    use strata_lang::EvalConfig;
    use strata_store::{Hash, HashAlgo, StoreDir};

    use super::*;
    use crate::debian::archive::deb_store_name;
    use crate::debian::lock::{LockedIndex, LockedPackage};
    use crate::eval_io::FsIo;

    fn modules() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules")
    }

    fn lock() -> LockFile {
        let pkg = |name: &str, version: &str, sha: char, depends: &[&str]| LockedPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            architecture: "amd64".to_owned(),
            filename: format!("pool/main/{}/{name}/{name}_{version}_amd64.deb", &name[..1]),
            size: 1234,
            sha256: sha.to_string().repeat(64),
            depends: depends.iter().map(|d| (*d).to_owned()).collect(),
        };
        LockFile {
            suite: "fake".to_owned(),
            architecture: "amd64".to_owned(),
            indexes: vec![LockedIndex {
                path: "dists/fake/main/binary-amd64/Packages".to_owned(),
                sha256: "0".repeat(64),
            }],
            packages: vec![
                pkg("app", "1.0-1", 'a', &["libfoo"]),
                // An epoch and a tilde: neither may appear in a store path name.
                pkg("libfoo", "2:1.2~rc1+dfsg-1", 'b', &[]),
            ],
        }
    }

    fn evaluator() -> Evaluator {
        let io = FsIo::new(StoreDir::new("/nix/store").unwrap());
        Evaluator::new(EvalConfig::default(), Rc::new(io))
    }

    #[test]
    fn json_round_trips_through_from_json() {
        let lock = lock();
        let json: serde_json::Value = serde_json::from_str(&lock_to_nix_json(&lock)).unwrap();
        assert_eq!(json["suite"], "fake");
        assert_eq!(json["packages"][0]["depends"][0], "libfoo");
        assert_eq!(json["packages"][1]["size"], 1234);
        assert!(json.get("indexes").is_none());
    }

    #[test]
    fn derivation_paths_are_stable() {
        let lock = lock();
        let paths = |ev: &mut Evaluator| {
            let set = eval_debian_pkgs(ev, &modules(), &lock).unwrap();
            let mut out = Vec::new();
            for name in ["app", "libfoo"] {
                out.push(drv_path(ev, &set, &[name]).unwrap());
                out.push(drv_path(ev, &set, &["debs", name]).unwrap());
                out.push(out_path(ev, &set, &[name]).unwrap());
            }
            out
        };
        let first = paths(&mut evaluator());
        let second = paths(&mut evaluator());
        assert_eq!(first, second);
        assert!(
            first[3].ends_with("-libfoo-2_1.2_rc1+dfsg-1.drv"),
            "{first:?}"
        );
        // Evaluating the same set twice in one evaluator gives the same paths too.
        let mut ev = evaluator();
        assert_eq!(paths(&mut ev), paths(&mut ev));
    }

    #[test]
    fn deb_paths_are_those_lock_fetch_makes() {
        let lock = lock();
        let mut ev = evaluator();
        let set = eval_debian_pkgs(&mut ev, &modules(), &lock).unwrap();
        let sd = StoreDir::new("/nix/store").unwrap();
        for p in &lock.packages {
            let digest = strata_store::hash::from_hex(&p.sha256).unwrap();
            let hash = Hash::from_digest(HashAlgo::Sha256, &digest).unwrap();
            let expected = sd
                .make_fixed_output_path(&deb_store_name(&p.filename), false, &hash)
                .unwrap();
            let got = out_path(&mut ev, &set, &["debs", &p.name]).unwrap();
            assert_eq!(got, sd.display(&expected));
        }
    }

    #[test]
    fn passthru_attributes() {
        let lock = lock();
        let mut ev = evaluator();
        let set = eval_debian_pkgs(&mut ev, &modules(), &lock).unwrap();
        let app = attr(&mut ev, &set, "app").unwrap();
        let version = attr(&mut ev, &app, "version").unwrap();
        assert_eq!(
            ev.force_string(&version, crate::config::span())
                .unwrap()
                .to_str_lossy(),
            "1.0-1"
        );
        let pname = attr(&mut ev, &app, "pname").unwrap();
        assert_eq!(
            ev.force_string(&pname, crate::config::span())
                .unwrap()
                .to_str_lossy(),
            "app"
        );
        let deps = attr(&mut ev, &app, "depends").unwrap();
        let Value::List(deps) = deps else {
            panic!("depends is not a list")
        };
        assert_eq!(deps.len(), 1);
        let libfoo_drv = drv_path(&mut ev, &set, &["libfoo"]).unwrap();
        assert_eq!(
            drv_path(&mut ev, &deps[0], &[]).unwrap(),
            libfoo_drv,
            "depends holds the packages themselves"
        );
    }
}
