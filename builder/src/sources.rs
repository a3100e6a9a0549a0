//! Where a system's inputs are found: the lock that pins a configuration's packages.
//!
//! A configuration uses the `strata.lock` its user names, else the one beside it, else
//! strata's own: the lock strata ships beside its module set (`share/strata/strata.lock` in
//! every system, so a machine rebuilds itself from what it was built with; the example's lock
//! in the source tree). A NixOS user's `/etc/nixos/configuration.nix` has no pin beside it
//! either: it builds from the channel, and strata's own lock plays that part.
//!
//! A flake names its package set as NixOS flakes name nixpkgs: by an input named `strata`
//! ([`PACKAGE_SET_INPUT`]) whose tree holds a lock ([`lock_in_tree`]: `strata.lock` at its
//! top, as a Debian suite pin is, or where a strata release's source tree keeps its own).
//! Every machine built from the flake then has the packages that lock pins, whoever builds
//! it. A flake without that input uses strata's own lock, as a configuration without a
//! `strata.lock` does; `--lock` overrides both.
//!
//! Must not: read the lock (callers parse it) or guess at the network.

use std::path::{Path, PathBuf};

/// How a lock was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOrigin {
    /// The user named it (`--lock`).
    Named,
    /// `strata.lock` beside the configuration.
    Beside,
    /// strata's own lock: the configuration has none.
    Strata,
}

/// A lock file's path and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLock {
    pub path: PathBuf,
    pub origin: LockOrigin,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "there is no strata.lock beside '{configuration}', and strata's own lock cannot be \
         found (make one with `strata lock update -o {beside}`, or set STRATA_MODULES to a \
         module set with a strata.lock beside it)"
    )]
    NoLock {
        configuration: String,
        beside: String,
    },
}

/// The lock for `configuration`: `named` if given (it need not exist yet: reading it names
/// the problem), else `strata.lock` beside the configuration, else strata's own
/// ([`strata_lock`]).
pub fn find_lock(named: Option<&Path>, configuration: &Path) -> Result<FoundLock, LockError> {
    if let Some(p) = named {
        return Ok(FoundLock {
            path: p.to_owned(),
            origin: LockOrigin::Named,
        });
    }
    let beside = beside(configuration);
    if beside.is_file() {
        return Ok(FoundLock {
            path: beside,
            origin: LockOrigin::Beside,
        });
    }
    strata_lock()
        .map(|path| FoundLock {
            path,
            origin: LockOrigin::Strata,
        })
        .ok_or_else(|| LockError::NoLock {
            configuration: configuration.display().to_string(),
            beside: beside.display().to_string(),
        })
}

/// `strata.lock` in the configuration's directory.
pub fn beside(configuration: &Path) -> PathBuf {
    configuration
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("strata.lock")
}

/// The input of a flake that supplies its package set.
pub const PACKAGE_SET_INPUT: &str = "strata";

/// Where a tree keeps the lock it supplies: `strata.lock` at its top (a suite pin, or an
/// installed strata's `share/strata/`), else `examples/strata.lock` (strata's source tree).
const LOCK_IN_TREE: [&str; 2] = ["strata.lock", "examples/strata.lock"];

/// The lock a flake input's tree supplies (`tree`: where the tree is on disk), if it has one.
pub fn lock_in_tree(tree: &Path) -> Option<PathBuf> {
    LOCK_IN_TREE
        .iter()
        .map(|rel| tree.join(rel))
        .find(|p| p.is_file())
}

/// strata's own lock: `strata.lock` beside the module set (`share/strata/` of an installed
/// strata, which every system carries), else, for a strata run from its source tree, the
/// example's.
pub fn strata_lock() -> Option<PathBuf> {
    let modules = crate::config::modules_dir()?;
    let shipped = modules.parent()?.join("strata.lock");
    if shipped.is_file() {
        return Some(shipped);
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/strata.lock");
    source
        .is_file()
        .then(|| source.canonicalize().unwrap_or(source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_supplies_its_top_lock_else_a_source_tree_s() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(lock_in_tree(d.path()), None);
        std::fs::create_dir_all(d.path().join("examples")).unwrap();
        std::fs::write(d.path().join("examples/strata.lock"), "").unwrap();
        assert_eq!(
            lock_in_tree(d.path()),
            Some(d.path().join("examples/strata.lock"))
        );
        std::fs::write(d.path().join("strata.lock"), "").unwrap();
        assert_eq!(lock_in_tree(d.path()), Some(d.path().join("strata.lock")));
    }

    #[test]
    fn named_then_beside_then_strata() {
        let d = tempfile::tempdir().unwrap();
        let conf = d.path().join("configuration.nix");
        std::fs::write(&conf, "{ }").unwrap();
        let named = d.path().join("other.lock");
        assert_eq!(
            find_lock(Some(&named), &conf).unwrap(),
            FoundLock {
                path: named.clone(),
                origin: LockOrigin::Named
            }
        );
        // No lock beside it: strata's own (the source tree's, here).
        let own = find_lock(None, &conf).unwrap();
        assert_eq!(own.origin, LockOrigin::Strata);
        assert!(own.path.ends_with("examples/strata.lock"), "{own:?}");
        std::fs::write(d.path().join("strata.lock"), "").unwrap();
        assert_eq!(
            find_lock(None, &conf).unwrap(),
            FoundLock {
                path: d.path().join("strata.lock"),
                origin: LockOrigin::Beside
            }
        );
        // A configuration named without a directory has its lock in the current one.
        assert_eq!(
            beside(Path::new("configuration.nix")),
            Path::new("./strata.lock")
        );
    }
}
