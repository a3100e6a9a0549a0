//! The evaluation of a `-p` shell, remembered: the same names, lock, module set and store
//! evaluate to the same shell, so a warm `strata shell -p` reads the result instead of
//! evaluating the whole package set again (which costs more than entering the shell).
//!
//! An entry is `<state>/shell-cache/<key>.json`, the key a SHA-256 of everything the result
//! depends on: strata's version, the package set's Nix files (`modules/pkgs/*.nix`), the lock's
//! suite, architecture and digest, the store directory and the names. It is used only while
//! its tree is valid in the store; otherwise the shell is evaluated again and the entry
//! rewritten. A shell.nix is always evaluated (it may read any file or variable).
//!
//! Must not: serve an entry whose inputs differ, or fail a shell because of the cache (a
//! broken entry is ignored).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::EvaluatedShell;
use crate::debian::lock::{sha256_hex, LockFile};

/// The cache's directory below the store's state directory.
pub const CACHE_DIR: &str = "shell-cache";

/// One remembered shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub tree_drv: String,
    /// The tree's output path.
    pub tree: String,
    pub shell_hook: String,
    pub variables: BTreeMap<String, String>,
    pub drvs: BTreeSet<String>,
    pub paths: BTreeSet<String>,
}

impl Entry {
    pub fn new(shell: &EvaluatedShell, tree: String) -> Entry {
        Entry {
            tree_drv: shell.tree_drv.clone(),
            tree,
            shell_hook: shell.shell_hook.clone(),
            variables: shell.variables.clone(),
            drvs: shell.drvs.clone(),
            paths: shell.paths.clone(),
        }
    }

    pub fn shell(&self) -> EvaluatedShell {
        EvaluatedShell {
            tree_drv: self.tree_drv.clone(),
            shell_hook: self.shell_hook.clone(),
            variables: self.variables.clone(),
            drvs: self.drvs.clone(),
            paths: self.paths.clone(),
        }
    }
}

/// The key of the shell of `names` (see the module documentation); `None` when the package
/// set's files cannot be read.
pub fn key(modules: &Path, lock: &LockFile, store_dir: &str, names: &[String]) -> Option<String> {
    let mut text = format!(
        "strata {}\nsuite {}\narchitecture {}\ndigest {}\nstore {store_dir}\n",
        env!("CARGO_PKG_VERSION"),
        lock.suite,
        lock.architecture,
        lock.digest
    );
    let dir = modules.join("pkgs");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .collect();
    files.sort();
    for f in files {
        let data = fs::read(&f).ok()?;
        text.push_str(&format!(
            "file {} {}\n",
            f.file_name()?.to_string_lossy(),
            sha256_hex(&data)
        ));
    }
    for n in names {
        text.push_str(&format!("package {n}\n"));
    }
    Some(sha256_hex(text.as_bytes()))
}

fn entry_path(state_dir: &Path, key: &str) -> PathBuf {
    state_dir.join(CACHE_DIR).join(format!("{key}.json"))
}

/// The entry of `key`, if there is a readable one.
pub fn read(state_dir: &Path, key: &str) -> Option<Entry> {
    let data = fs::read(entry_path(state_dir, key)).ok()?;
    serde_json::from_slice(&data).ok()
}

/// Remembers `entry` under `key` (best effort: a cache that cannot be written is skipped).
pub fn write(state_dir: &Path, key: &str, entry: &Entry) {
    let path = entry_path(state_dir, key);
    let result = fs::create_dir_all(state_dir.join(CACHE_DIR)).and_then(|()| {
        let json = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        strata_store::fs::write_atomic(&path, &json).map_err(std::io::Error::other)
    });
    if let Err(e) = result {
        tracing::debug!(path = %path.display(), "cannot remember the shell: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(digest: &str) -> LockFile {
        LockFile {
            suite: "bookworm".into(),
            architecture: "amd64".into(),
            indexes: Vec::new(),
            digest: digest.into(),
        }
    }

    #[test]
    fn the_key_changes_with_every_input_and_entries_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let modules = d.path().join("modules");
        fs::create_dir_all(modules.join("pkgs")).unwrap();
        fs::write(modules.join("pkgs/default.nix"), "{ }").unwrap();
        let names = vec!["jq".to_owned()];
        let k = key(&modules, &lock("aa"), "/nix/store", &names).unwrap();
        assert_eq!(key(&modules, &lock("aa"), "/nix/store", &names).unwrap(), k);
        assert_ne!(key(&modules, &lock("ab"), "/nix/store", &names).unwrap(), k);
        assert_ne!(
            key(&modules, &lock("aa"), "/other/store", &names).unwrap(),
            k
        );
        assert_ne!(
            key(
                &modules,
                &lock("aa"),
                "/nix/store",
                &["jq".to_owned(), "git".to_owned()]
            )
            .unwrap(),
            k
        );
        fs::write(modules.join("pkgs/default.nix"), "{ x = 1; }").unwrap();
        assert_ne!(key(&modules, &lock("aa"), "/nix/store", &names).unwrap(), k);
        assert_eq!(
            key(&d.path().join("none"), &lock("aa"), "/nix/store", &names),
            None
        );

        let state = d.path().join("state");
        assert_eq!(read(&state, &k), None);
        let mut variables = BTreeMap::new();
        variables.insert("name".to_owned(), "shell".to_owned());
        let e = Entry {
            tree_drv: "/nix/store/a-shell-usr.drv".into(),
            tree: "/nix/store/b-shell-usr".into(),
            shell_hook: "echo hi".into(),
            variables,
            drvs: BTreeSet::new(),
            paths: BTreeSet::new(),
        };
        write(&state, &k, &e);
        assert_eq!(read(&state, &k), Some(e.clone()));
        assert_eq!(Entry::new(&e.shell(), e.tree.clone()), e);
        fs::write(entry_path(&state, &k), "{ broken").unwrap();
        assert_eq!(read(&state, &k), None, "a broken entry is no entry");
    }
}
