//! `flake.lock` in Nix's format, version 7: `nodes` (each with `inputs`, `locked`,
//! `original`, and `flake: false` for a plain source tree), `root` naming the root node, and
//! `version`. An input of a node is a node's name, or, for `follows`, a path of input names
//! from the root. Written as Nix writes it: keys sorted, two spaces of indent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::FlakeError;

/// The lock file format version strata reads and writes.
pub const VERSION: u64 = 7;

/// A whole `flake.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlakeLock {
    pub nodes: BTreeMap<String, Node>,
    pub root: String,
    pub version: u64,
}

/// One node: the root (inputs only) or a locked input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub flake: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, InputTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<LockedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<LockedRef>,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// What an input of a node is: a node, or a path of input names from the root (`follows`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InputTarget {
    Node(String),
    Follows(Vec<String>),
}

/// A reference's attributes, as `locked` and `original` hold them (fields in Nix's order:
/// sorted). An attribute strata does not know is refused rather than dropped, so a lock is
/// never rewritten without it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockedRef {
    /// Where the flake is inside the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// A forge's host, when not the forge's own (`github:`, `gitlab:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nar_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev_count: Option<u64>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl FlakeLock {
    /// A lock with only its root node.
    pub fn empty() -> FlakeLock {
        FlakeLock {
            nodes: BTreeMap::from([("root".to_owned(), Node::default_flake())]),
            root: "root".to_owned(),
            version: VERSION,
        }
    }

    /// Reads a lock's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<FlakeLock, FlakeError> {
        let bad = |why: String| FlakeError::Lock {
            file: file.to_owned(),
            why,
        };
        let lock: FlakeLock = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if lock.version != VERSION {
            return Err(bad(format!(
                "version {} is not supported (strata reads version {VERSION})",
                lock.version
            )));
        }
        if !lock.nodes.contains_key(&lock.root) {
            return Err(bad(format!("the root node {:?} is missing", lock.root)));
        }
        for (name, node) in &lock.nodes {
            for (input, target) in &node.inputs {
                if let InputTarget::Node(n) = target {
                    if !lock.nodes.contains_key(n) {
                        return Err(bad(format!(
                            "input {input:?} of node {name:?} names the missing node {n:?}"
                        )));
                    }
                }
            }
            if *name != lock.root && node.locked.is_none() {
                return Err(bad(format!("node {name:?} has no `locked' attributes")));
            }
        }
        Ok(lock)
    }

    /// The text Nix writes: sorted keys, two spaces of indent, a final newline.
    pub fn render(&self) -> String {
        // Serialising a map of plain data cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// A node name for input `input` not taken yet: the input's name, else with `_2`, `_3`...
    pub fn fresh_name(&self, input: &str) -> String {
        if !self.nodes.contains_key(input) {
            return input.to_owned();
        }
        (2..)
            .map(|i| format!("{input}_{i}"))
            .find(|n| !self.nodes.contains_key(n))
            .unwrap_or_else(|| input.to_owned())
    }
}

impl Node {
    fn default_flake() -> Node {
        Node {
            flake: true,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NIX_WRITTEN: &str = r#"{
  "nodes": {
    "data": {
      "flake": false,
      "locked": {
        "lastModified": 1700000000,
        "narHash": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "rev": "0123456789abcdef0123456789abcdef01234567",
        "revCount": 3,
        "type": "git",
        "url": "file:///srv/data"
      },
      "original": {
        "type": "git",
        "url": "file:///srv/data"
      }
    },
    "root": {
      "inputs": {
        "data": "data",
        "lib": [
          "data"
        ]
      }
    }
  },
  "root": "root",
  "version": 7
}
"#;

    #[test]
    fn reads_and_writes_nix_s_text_unchanged() {
        let lock = FlakeLock::parse(NIX_WRITTEN, "flake.lock").unwrap();
        assert!(!lock.nodes["data"].flake);
        assert_eq!(
            lock.nodes["root"].inputs["lib"],
            InputTarget::Follows(vec!["data".into()])
        );
        assert_eq!(lock.render(), NIX_WRITTEN);
    }

    #[test]
    fn bad_locks_are_refused_with_the_reason() {
        let e = FlakeLock::parse("{", "x/flake.lock")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x/flake.lock"), "{e}");
        let v6 = NIX_WRITTEN.replace("\"version\": 7", "\"version\": 6");
        let e = FlakeLock::parse(&v6, "f").unwrap_err().to_string();
        assert!(e.contains("version 6"), "{e}");
        let dangling = NIX_WRITTEN.replace("\"data\": \"data\"", "\"data\": \"nowhere\"");
        let e = FlakeLock::parse(&dangling, "f").unwrap_err().to_string();
        assert!(e.contains("missing node \"nowhere\""), "{e}");
        assert_eq!(FlakeLock::empty().fresh_name("root"), "root_2");
    }
}
