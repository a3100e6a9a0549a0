//! The Debian package set as derivations: `modules/pkgs/debian.nix` applied to a lock's digest.
//!
//! The digest ([`crate::debian::digest`]) has one record a package of the pinned suite, tens of
//! thousands of them. [`eval_pkgs`] makes the attribute set of records in Rust, one string a
//! name, without parsing a record: `debian.nix` decodes a record with `builtins.fromJSON` only
//! when a configuration touches its name, so evaluating a configuration costs one file read and
//! one pass over the names, whatever the suite's size. Each package is a `builtin:unpack-deb`
//! derivation, with `debs.<name>` its `builtin:fetchurl` derivation; [`drv_path`] reads one
//! derivation's `.drv` path. With an evaluator on [`StoreIo`](crate::eval_io::StoreIo) the
//! `.drv` files are written into the store, ready for
//! [`scheduler::realise_all`](crate::scheduler::realise_all).

use std::path::{Path, PathBuf};

use strata_lang::value::{intern, Attrs, Value};
use strata_lang::{EvalError, Evaluator};

use crate::debian::digest;
use crate::debian::lock::LockFile;

/// The package set's file below the `modules` directory.
pub const DEBIAN_NIX: &str = "pkgs/debian.nix";
/// The whole package set's file below the `modules` directory.
pub const DEFAULT_NIX: &str = "pkgs/default.nix";

/// `<modules>/pkgs/debian.nix`.
pub fn debian_nix(modules: &Path) -> PathBuf {
    modules.join(DEBIAN_NIX)
}

/// Evaluates `import <modules>/pkgs/debian.nix { lock; records; }` over the digest `digest`
/// (its text) and returns the Debian package set (forced to a set; its attributes stay lazy).
pub fn eval_debian_pkgs(
    ev: &mut Evaluator,
    modules: &Path,
    lock: &LockFile,
    digest: &str,
) -> Result<Value, EvalError> {
    eval_with_digest(ev, modules, &debian_nix(modules), lock, digest)
}

/// strata's whole package set, `<modules>/pkgs/default.nix` applied to the lock and its digest:
/// the Debian packages, their aliases, the trivial builders and `busybox-applets` (what
/// configurations see as `pkgs`).
pub fn eval_pkgs(
    ev: &mut Evaluator,
    modules: &Path,
    lock: &LockFile,
    digest: &str,
) -> Result<Value, EvalError> {
    eval_with_digest(ev, modules, &modules.join(DEFAULT_NIX), lock, digest)
}

/// `import <nix_file> { lock = { suite; architecture; essential; }; records = { <name> = <line>;
/// ... }; }` (`essential`: the names of the `Essential: yes` packages), forced to a set.
fn eval_with_digest(
    ev: &mut Evaluator,
    modules: &Path,
    nix_file: &Path,
    lock: &LockFile,
    digest: &str,
) -> Result<Value, EvalError> {
    let lines = digest::split(digest)
        .map_err(|e| EvalError::eval(format!("the Debian digest: {e}"), crate::config::span()))?;
    if lines.header.suite != lock.suite || lines.header.architecture != lock.architecture {
        return Err(EvalError::eval(
            format!(
                "the Debian digest is of {} {}, but strata.lock pins {} {}",
                lines.header.suite, lines.header.architecture, lock.suite, lock.architecture
            ),
            crate::config::span(),
        ));
    }
    let records: Vec<_> = lines
        .records
        .iter()
        .map(|(name, line)| (intern(name), Value::str((*line).to_owned())))
        .collect();
    // The names of `Essential: yes` packages, found without decoding the records (the digest
    // writes the field as `"essential":true` and a name cannot hold a quote).
    let essential: Vec<Value> = lines
        .records
        .iter()
        .filter(|(_, line)| line.contains("\"essential\":true"))
        .map(|(name, _)| Value::str((*name).to_owned()))
        .collect();
    ev.sources.add_library_dir(modules.to_path_buf());
    let mut file = Vec::new();
    strata_lang::print::escape_string(nix_file.as_os_str().as_encoded_bytes(), &mut file);
    let f = ev.eval_string(&format!("import {}", String::from_utf8_lossy(&file)))?;
    let lock_value = Value::attrs(Attrs::from_unsorted(vec![
        (intern("suite"), Value::str(lock.suite.clone())),
        (
            intern("architecture"),
            Value::str(lock.architecture.clone()),
        ),
        (intern("essential"), Value::list(essential)),
    ]));
    let arg = Value::attrs(Attrs::from_unsorted(vec![
        (intern("lock"), lock_value),
        (
            intern("records"),
            Value::attrs(Attrs::from_unsorted(records)),
        ),
    ]));
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
    use crate::debian::lock::LockedIndex;
    use crate::eval_io::FsIo;

    fn modules() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules")
    }

    fn stanza(name: &str, version: &str, depends: &str) -> String {
        let file_version = version.split_once(':').map_or(version, |(_, v)| v);
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: amd64\n\
             Filename: pool/main/{}/{name}/{name}_{file_version}_amd64.deb\nSize: 1234\n\
             SHA256: {}\n{depends}\n",
            &name[..1],
            name.len()
                .to_string()
                .repeat(64)
                .get(..64)
                .unwrap_or_default(),
        )
    }

    fn lock_and_digest() -> (LockFile, String) {
        let index = [
            stanza("app", "1.0-1", "Depends: libfoo\n"),
            // An epoch and a tilde: neither may appear in a store path name.
            stanza("libfoo", "2:1.2~rc1+dfsg-1", ""),
            stanza("broken", "1-1", "Depends: nothere\n"),
        ]
        .concat();
        let locked = LockedIndex {
            path: "dists/fake/main/binary-amd64/Packages".to_owned(),
            sha256: crate::debian::lock::sha256_hex(index.as_bytes()),
        };
        let digest =
            crate::debian::digest::build("fake", "amd64", &[(locked.clone(), index.as_bytes())])
                .unwrap();
        let lock = LockFile {
            suite: "fake".to_owned(),
            architecture: "amd64".to_owned(),
            indexes: vec![locked],
            digest: crate::debian::lock::sha256_hex(&digest),
        };
        (lock, String::from_utf8(digest).unwrap())
    }

    fn evaluator() -> Evaluator {
        let io = FsIo::new(StoreDir::new("/nix/store").unwrap());
        Evaluator::new(EvalConfig::default(), Rc::new(io))
    }

    #[test]
    fn derivation_paths_are_stable() {
        let (lock, digest) = lock_and_digest();
        let paths = |ev: &mut Evaluator| {
            let set = eval_debian_pkgs(ev, &modules(), &lock, &digest).unwrap();
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
        let (lock, digest) = lock_and_digest();
        let mut ev = evaluator();
        let set = eval_debian_pkgs(&mut ev, &modules(), &lock, &digest).unwrap();
        let sd = StoreDir::new("/nix/store").unwrap();
        let lines = crate::debian::digest::split(&digest).unwrap();
        for (_, line) in &lines.records {
            let p: crate::debian::digest::DigestRecord = serde_json::from_str(line).unwrap();
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
        let (lock, digest) = lock_and_digest();
        let mut ev = evaluator();
        let set = eval_debian_pkgs(&mut ev, &modules(), &lock, &digest).unwrap();
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

    #[test]
    fn a_broken_package_fails_only_when_used() {
        let (lock, digest) = lock_and_digest();
        let mut ev = evaluator();
        let set = eval_debian_pkgs(&mut ev, &modules(), &lock, &digest).unwrap();
        let broken = attr(&mut ev, &set, "broken").unwrap();
        let version = attr(&mut ev, &broken, "version").unwrap();
        assert_eq!(
            ev.force_string(&version, crate::config::span())
                .unwrap()
                .to_str_lossy(),
            "1-1"
        );
        let e = out_path(&mut ev, &set, &["broken"]).unwrap_err();
        let text = e.render(&ev.sources);
        assert!(
            text.contains("pkgs.broken cannot be used: broken 1-1 has Depends nothere"),
            "{text}"
        );
    }

    #[test]
    fn a_digest_of_another_suite_is_refused() {
        let (mut lock, digest) = lock_and_digest();
        lock.suite = "other".to_owned();
        let mut ev = evaluator();
        let e = eval_debian_pkgs(&mut ev, &modules(), &lock, &digest).unwrap_err();
        assert!(
            e.render(&ev.sources)
                .contains("the Debian digest is of fake amd64, but strata.lock pins other amd64"),
            "{}",
            e.render(&ev.sources)
        );
    }
}
